"""Incident commands: press a key from the command line, list incidents, show one's timeline."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from callcenter.adapters.events import Published
from callcenter.cli.common import console, fail, state
from callcenter.domain.incident_codec import jsonable_dict
from callcenter.domain.types import CallerTrust

__all__ = ["app", "list_incidents", "show_incident", "simulate_press"]

app = typer.Typer(help="Incidents and their timelines.", no_args_is_help=True)
_SETTLED = {"quorum_met", "cancelled", "resolved", "false_alarm"}


def simulate_press(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The emergency line that pressed, any usual form.")],
    wait: Annotated[float, typer.Option(help="Seconds to follow the incident before leaving it to the service.")] = 90,
) -> None:
    """Open an incident as if NUMBER pressed its key, and follow it live until help is confirmed."""
    container = state(ctx).container
    container.init_db()
    runtime = container.runtime
    runtime.start()
    container.events.subscribe(_print_event)
    incident = runtime.engine.key_press(number, CallerTrust.LOCAL)
    console.print(f"incident [bold]{incident.id}[/bold]: {incident.label} (press {incident.press_count})")
    try:
        container.events.wait_for(
            lambda p: p.incident_id == incident.id and p.event.kind in _SETTLED, timeout=wait)
    except TimeoutError:
        console.print(f"still open after {wait:.0f} s; the running service carries on with it")
    time.sleep(0.2)


def _print_event(p: Published) -> None:
    e = p.event
    detail = " ".join(f"{k}={v}" for k, v in jsonable_dict(e.data).items() if v not in (None, "", []))
    console.print(f"{e.at:%H:%M:%S} {e.kind:<14} {e.actor:<20} {detail}", highlight=False, soft_wrap=True)


@app.command("list")
def list_incidents(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only this status (alerting, acknowledged, ...).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The newest incidents first."""
    rows = state(ctx).container.incident_store.incidents(limit, status)
    items = [_summary(r) for r in rows]
    if as_json:
        console.print_json(json.dumps(items, ensure_ascii=False))
        return
    for i in items:
        flag = "!" if i["urgent"] else " "
        console.print(f"{flag}{i['id']}  {i['status']:<12} L{i['level']} acks={i['acks']} presses={i['press_count']}"
                      f"  {i['label']}", highlight=False)


@app.command("show")
def show_incident(
    ctx: typer.Context,
    incident_id: Annotated[str, typer.Argument(help="Incident id as `incidents list` prints it.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One incident with every leg and its whole timeline."""
    store = state(ctx).container.incident_store
    row = store.incident_row(incident_id)
    if row is None:
        fail(f"no incident {incident_id}")
    detail = {**_summary(row), "legs": [_leg(r) for r in store.legs(incident_id)],
              "timeline": [_event(r) for r in store.timeline(incident_id)]}
    if as_json:
        console.print_json(json.dumps(detail, ensure_ascii=False))
        return
    _print_detail(detail)


def _summary(r: Any) -> dict[str, Any]:
    return jsonable_dict({"id": r.id, "status": r.status, "label": r.label, "address": r.address, "caller": r.caller,
                     "household_id": r.household_id, "emergency_type": r.emergency_type, "level": r.level,
                     "urgent": r.urgent, "press_count": r.press_count, "acks": len(r.acks),
                     "opened_at": r.opened_at, "next_escalation_at": r.next_escalation_at,
                     "closed_at": r.closed_at})


def _leg(r: Any) -> dict[str, Any]:
    return jsonable_dict({"id": r.id, "recipient": r.recipient_name, "phone": r.recipient_phone,
                     "role": r.recipient_role, "channel": r.channel, "purpose": r.purpose,
                     "attempt": r.attempt, "level": r.level, "status": r.status, "due_at": r.due_at,
                     "updated_at": r.updated_at, "detail": r.detail})


def _event(r: Any) -> dict[str, Any]:
    return jsonable_dict({"at": r.at, "kind": r.kind, "actor": r.actor, "data": r.data})


def _print_detail(d: dict[str, Any]) -> None:
    console.print(f"[bold]{d['id']}[/bold] {d['label']} {d['address']}  status={d['status']} level={d['level']}")
    console.print("[bold]legs[/bold]")
    for leg in d["legs"]:
        console.print(f"  {leg['recipient']:<8} {leg['role']:<22} {leg['channel']:<4} {leg['purpose']:<12}"
                      f" #{leg['attempt']} {leg['status']}", highlight=False)
    console.print("[bold]timeline[/bold]")
    for e in d["timeline"]:
        console.print(f"  {e['at'][11:19]} {e['kind']:<14} {e['actor']}", highlight=False)

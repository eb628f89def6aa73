"""Incidents API: list with filters and paging, detail with timeline and legs, operator actions.

Every action runs through the incident engine and lands in the audit log with the incident's
state before and after. A grid worker sees and acts only on incidents of their own grid: others
answer 404, as if they did not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from callcenter.accounts.roles import Permission, User
from callcenter.api import incident_view as view
from callcenter.api.console_schemas import (
    AcknowledgeRequest,
    CallBackResult,
    DispatchRequest,
    IncidentDetail,
    IncidentPage,
    NoteRequest,
    ResolveRequest,
    TypeRequest,
)
from callcenter.api.deps import ContainerDep, client_address, csrf_protect, require
from callcenter.api.schemas import HouseholdDetail
from callcenter.bootstrap import ConsoleContainer
from callcenter.db.console_queries import OPEN_STATUSES, IncidentFilter, IncidentRecord
from callcenter.domain.incident import IncidentError
from callcenter.domain.types import Actor, EmergencyType, IncidentStatus
from callcenter.service.callback import CallBackError
from callcenter.service.engine import IncidentEngine, UnknownIncidentError

__all__ = [
    "Actor_", "Viewer", "acknowledge", "add_note", "call_back", "detail_of", "dispatch", "false_alarm",
    "incident_detail", "list_incidents", "release", "resolve", "router", "set_type", "visible_incident",
    "voice_message",
]

router = APIRouter(prefix="/api/incidents", tags=["incidents"], dependencies=[Depends(csrf_protect)])
Viewer = Annotated[User, Depends(require(Permission.VIEW_INCIDENTS))]
Actor_ = Annotated[User, Depends(require(Permission.ACT_ON_INCIDENTS))]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such incident (or not in your grid)"}}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The incident does not allow this now (closed, unknown responder)"}}


@router.get("", response_model=IncidentPage, summary="Incidents, newest first, with filters and paging")
def list_incidents(
    user: Viewer, container: ContainerDep,
    status: Annotated[list[IncidentStatus] | None, Query(description="repeat for several")] = None,
    open_only: Annotated[bool, Query(alias="open", description="alerting or acknowledged only")] = False,
    level: Annotated[int | None, Query(ge=-1, description="-1: held, caller unverified")] = None,
    emergency_type: Annotated[EmergencyType | None, Query(alias="type")] = None,
    grid: Annotated[int | None, Query(description="grid id")] = None,
    since: datetime | None = None, until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0)] = 0,
    order: Annotated[str, Query(pattern="^(newest|queue)$", description="queue: most urgent, then oldest")] = "newest",
) -> IncidentPage:
    scope = user.grid_scope
    if scope is not None and grid is not None and grid != scope:
        raise HTTPException(403, "a grid worker sees only their own grid")
    statuses = tuple(str(s) for s in status or ()) or (OPEN_STATUSES if open_only else ())
    f = IncidentFilter(statuses, level, str(emergency_type) if emergency_type else None,
                       scope if scope is not None else grid, _utc(since), _utc(until), limit, offset)
    rows, total, levels = container.console_queries.incidents(f)
    items = [view.summary(r, levels[r.id]) for r in rows]
    return IncidentPage(items=view.queue_order(items) if order == "queue" else items, total=total,
                        limit=limit, offset=offset)


@router.get("/{incident_id}", response_model=IncidentDetail, responses=_NOT_FOUND,
            summary="One incident: household profile, responders with live legs, full timeline")
def incident_detail(incident_id: str, user: Viewer, container: ContainerDep) -> IncidentDetail:
    return detail_of(container, visible_incident(container, incident_id, user))


@router.get("/{incident_id}/voice/{index}", responses=_NOT_FOUND, response_class=FileResponse,
            summary="The caller's recorded voice message")
def voice_message(incident_id: str, index: int, user: Viewer, container: ContainerDep) -> FileResponse:
    visible_incident(container, incident_id, user)
    path = view.voice_path(view.timeline(container.incident_store.timeline(incident_id)), index)
    if path is None or not Path(path).is_file():
        raise HTTPException(404, "no such voice message")
    return FileResponse(path, media_type="audio/wav")


def _action(path: str, summary: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return router.post(path, response_model=IncidentDetail, responses={**_NOT_FOUND, **_CONFLICT}, summary=summary)


@_action("/{incident_id}/acknowledge", "Acknowledge on behalf of a responder (e.g. who phoned in)")
async def acknowledge(incident_id: str, body: AcknowledgeRequest, user: Actor_, container: ContainerDep,
                      request: Request) -> IncidentDetail:
    return await _run(container, request, user, incident_id, "acknowledge_on_behalf",
                      lambda e, a: e.acknowledge_on_behalf(incident_id, body.recipient_key, a),
                      {"recipient_key": body.recipient_key})


@_action("/{incident_id}/type", "Set the emergency type")
async def set_type(incident_id: str, body: TypeRequest, user: Actor_, container: ContainerDep,
                   request: Request) -> IncidentDetail:
    return await _run(container, request, user, incident_id, "set_type",
                      lambda e, a: e.set_type(incident_id, body.emergency_type, a))


@_action("/{incident_id}/notes", "Add a note to the timeline")
async def add_note(incident_id: str, body: NoteRequest, user: Actor_, container: ContainerDep,
                   request: Request) -> IncidentDetail:
    return await _run(container, request, user, incident_id, "add_note",
                      lambda e, a: e.add_note(incident_id, body.text, a), {"note": body.text[:200]})


@_action("/{incident_id}/dispatch", "Record a dispatch to 110, 119 or 120")
async def dispatch(incident_id: str, body: DispatchRequest, user: Actor_, container: ContainerDep,
                   request: Request) -> IncidentDetail:
    at = _utc(body.at) or datetime.now(UTC)
    return await _run(container, request, user, incident_id, "record_dispatch",
                      lambda e, a: e.record_dispatch(incident_id, body.agency, at, body.reference, a),
                      {"agency": body.agency, "reference": body.reference, "at": at.isoformat()})


@_action("/{incident_id}/resolve", "Close as resolved")
async def resolve(incident_id: str, body: ResolveRequest, user: Actor_, container: ContainerDep,
                  request: Request) -> IncidentDetail:
    return await _run(container, request, user, incident_id, "resolve",
                      lambda e, a: e.resolve(incident_id, a, body.note))


@_action("/{incident_id}/release", "Alert the neighbours of a held incident (its caller could not be verified)")
async def release(incident_id: str, user: Actor_, container: ContainerDep, request: Request) -> IncidentDetail:
    return await _run(container, request, user, incident_id, "release", lambda e, a: e.release(incident_id, a))


@_action("/{incident_id}/false-alarm", "Close as a false alarm (everyone alerted is told)")
async def false_alarm(incident_id: str, user: Actor_, container: ContainerDep, request: Request) -> IncidentDetail:
    return await _run(container, request, user, incident_id, "false_alarm",
                      lambda e, a: e.mark_false_alarm(incident_id, a))


@router.post("/{incident_id}/call-back", response_model=CallBackResult, responses=_NOT_FOUND,
             summary="Ring the operator's own phone, then the household")
async def call_back(incident_id: str, user: Actor_, container: ContainerDep, request: Request) -> CallBackResult:
    row = await run_in_threadpool(visible_incident, container, incident_id, user)
    line = _household_line(container, row)
    try:
        reference = await run_in_threadpool(container.call_back.call_back, user.phone, line, incident_id)
    except CallBackError as exc:
        raise HTTPException(409, str(exc)) from exc
    await run_in_threadpool(container.runtime.engine.record_call_back, incident_id, user.phone, line, reference,
                            _actor(user))
    container.accounts.audit(user, "call_back", f"incident:{incident_id}", {},
                             {"reference": reference}, client_address(request))
    return CallBackResult(reference=reference, operator_phone=user.phone, household_line=line)


# -- helpers ------------------------------------------------------------------------------------


def detail_of(container: ConsoleContainer, row: IncidentRecord) -> IncidentDetail:
    store = container.incident_store
    leg_rows = store.legs(row.id)
    legs = [view.leg(r) for r in leg_rows]
    phones = {r.id: r.recipient_phone for r in leg_rows}
    events = view.timeline(store.timeline(row.id))
    found = container.directory.household_by_id(row.household_id) if row.household_id is not None else None
    return IncidentDetail(
        incident=view.summary(row, view.level_names(row)), household=HouseholdDetail.of(found) if found else None,
        responders=view.responders(row.plan, row.acks, legs, phones), legs=legs, timeline=events,
        voice_messages=view.voice_messages(row.id, events),
    )


def visible_incident(container: ConsoleContainer, incident_id: str, user: User) -> IncidentRecord:
    row = container.console_queries.incident(incident_id)
    if row is None or not user.sees_grid(row.grid_id):
        raise HTTPException(404, f"no incident {incident_id}")
    return row


async def _run(container: ConsoleContainer, request: Request, user: User, incident_id: str, action: str,
               command: Callable[[IncidentEngine, Actor], object], extra: dict[str, Any] | None = None,
               ) -> IncidentDetail:
    def work() -> IncidentDetail:
        before = visible_incident(container, incident_id, user)
        try:
            command(container.runtime.engine, _actor(user))
        except UnknownIncidentError as exc:
            raise HTTPException(404, f"no incident {incident_id}") from exc
        except IncidentError as exc:
            raise HTTPException(409, str(exc)) from exc
        after = container.console_queries.incident(incident_id)
        assert after is not None, "an incident is never deleted"
        container.accounts.audit(user, action, f"incident:{incident_id}", view.snapshot(before),
                                 {**view.snapshot(after), **(extra or {})}, client_address(request))
        return detail_of(container, after)
    return await run_in_threadpool(work)


def _actor(user: User) -> Actor:
    return Actor("operator", user.name)


def _household_line(container: ConsoleContainer, row: IncidentRecord) -> str:
    """The household's first emergency line, or the number that pressed (unknown callers)."""
    found = container.directory.household_by_id(row.household_id) if row.household_id is not None else None
    if found and found.household.emergency_lines:
        return found.household.emergency_lines[0]
    return str(row.caller)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

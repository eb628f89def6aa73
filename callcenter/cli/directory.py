"""Directory commands: create the schema, look a caller up."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import typer

from callcenter.cli.common import console, state
from contacts.model import CallerLookup, Responder
from contacts.phones import display_phone

__all__ = ["init_db", "lookup", "lookup_to_dict"]


def init_db(ctx: typer.Context) -> None:
    """Create or upgrade the database schema (idempotent)."""
    container = state(ctx).container
    container.init_db()
    console.print(f"database ready: {_safe_url(container.settings.database_url)}")


def lookup(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="Caller number as the key dials it, any usual form.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Find the household behind a caller number, its group's responders and upper levels."""
    found = state(ctx).container.directory.household_by_caller(number)
    if as_json:
        console.print_json(json.dumps(lookup_to_dict(found, number), ensure_ascii=False))
    elif found is None:
        console.print(f"unknown caller {number}: no household has this emergency line; operators take it.")
    else:
        _print_lookup(found)
    if found is None:
        raise typer.Exit(2)


def lookup_to_dict(found: CallerLookup | None, number: str) -> dict[str, Any]:
    if found is None:
        return {"number": number, "found": False}
    result = asdict(found)
    result["household"]["care_flags"] = sorted(found.household.care_flags)
    result["found"] = True
    return result


def _print_lookup(found: CallerLookup) -> None:
    h = found.household
    console.print(f"[bold]{h.label}[/bold]  户编号 {h.code}  户主 {h.head}")
    console.print(f"地址: {h.address}   ({found.place.path})")
    console.print(f"一键电话: {', '.join(display_phone(n) for n in h.emergency_lines)}")
    if h.care_labels:
        console.print(f"特殊关爱: [yellow]{'、'.join(h.care_labels)}[/yellow]")
    if h.notes:
        console.print(f"备注: {h.notes}")
    _print_responders("本户联系人", found.own_contacts)
    _print_responders("联防户", found.neighbours)
    _print_responders("上级 (按升级顺序)", found.upper_levels)


def _print_responders(title: str, responders: tuple[Responder, ...]) -> None:
    console.print(f"[bold]{title}[/bold] ({len(responders)})")
    for r in responders:
        console.print(f"  {r.role_label:<6} {r.name:<8} {display_phone(r.phone)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)

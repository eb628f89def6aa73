"""Read-side queries of the operators' console: incident lists with filters, grids, search, coverage.

Writes go through the incident engine and the directory store; these only read. Rows come out as the
frozen read models below (``IncidentListRow``, ``IncidentRecord``, ``GridRow``, ``HouseholdHitRow``,
``ResponderEntry``, ``AlertCallLeg``), never as table classes or untyped result rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine, and_, exists, func, or_, select

from callcenter.db.incident_tables import AlertLegRow, IncidentEventRow, IncidentRow
from callcenter.db.plan_cache import PLANS
from callcenter.db.tables import EmergencyLine, Grid, Household, JointDefenseGroup, ResponderRow, Town, Village
from callcenter.domain.incident_codec import plan_from_json

_inc = IncidentRow.__table__  # type: ignore[attr-defined]
_leg = AlertLegRow.__table__  # type: ignore[attr-defined]
_evt = IncidentEventRow.__table__  # type: ignore[attr-defined]
_h = Household.__table__  # type: ignore[attr-defined]
_g = JointDefenseGroup.__table__  # type: ignore[attr-defined]
_gr = Grid.__table__  # type: ignore[attr-defined]
_v = Village.__table__  # type: ignore[attr-defined]
_t = Town.__table__  # type: ignore[attr-defined]
_line = EmergencyLine.__table__  # type: ignore[attr-defined]
_resp = ResponderRow.__table__  # type: ignore[attr-defined]

__all__ = [
    "OPEN_STATUSES", "SILENT_EVENT_KINDS", "AlertCallLeg", "ConsoleQueries", "GridRow", "HouseholdHitRow",
    "IncidentFilter", "IncidentListRow", "IncidentRecord", "ResponderEntry",
]

OPEN_STATUSES = ("alerting", "acknowledged")
SILENT_EVENT_KINDS = ("silent", "silent_call")


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    statuses: tuple[str, ...] = ()
    level: int | None = None
    emergency_type: str | None = None
    grid_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class IncidentListRow:
    """An incident as the queue lists it: its columns without plan and acks, with its place."""

    id: str
    caller: str
    household_id: int | None
    label: str
    address: str
    status: str
    emergency_type: str
    press_count: int
    level: int
    urgent: bool
    caller_trust: str
    escalation_token: int
    opened_at: datetime
    last_press_at: datetime
    next_escalation_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    open_key: str | None
    version: int
    grid_id: int | None  # None: unknown caller
    grid_name: str | None
    village_name: str | None
    silent: bool  # a silent call (nobody spoke) is part of it
    ack_count: int


@dataclass(frozen=True, slots=True)
class IncidentRecord(IncidentListRow):
    """An incident with its fan-out plan and acknowledgements (JSON as stored)."""

    plan: dict[str, Any]
    acks: list[dict[str, Any]]


class GridRow(NamedTuple):
    id: int
    name: str
    village: str
    town: str


class HouseholdHitRow(NamedTuple):
    id: int
    code: str
    label: str
    address: str
    care_flags: list[str]
    grid_id: int
    grid_name: str
    group_name: str


class ResponderEntry(NamedTuple):
    id: int
    name: str
    phone: str
    role: str
    scope_level: str
    scope_id: int


class AlertCallLeg(NamedTuple):
    """A placed alert call of an incident in a period, with the incident's grid (None: unknown caller)."""

    status: str
    grid_id: int | None
    grid_name: str | None


def _list_row(row: Any) -> IncidentListRow:
    return IncidentListRow(**{**row._mapping, "silent": bool(row.silent)})


def _record(row: Any) -> IncidentRecord:
    return IncidentRecord(**{**row._mapping, "silent": bool(row.silent)})



_silent = exists().where(and_(_evt.c.incident_id == _inc.c.id, _evt.c.kind.in_(SILENT_EVENT_KINDS)))
_PLACE_COLUMNS = (
    _gr.c.id.label("grid_id"), _gr.c.name.label("grid_name"), _v.c.name.label("village_name"),
    _silent.label("silent"), func.json_array_length(_inc.c.acks).label("ack_count"),
)
_LIST_COLUMNS = (*_inc.c, *_PLACE_COLUMNS)
# A queue refetch reads hundreds of rows: without the JSON of plan and acks (level names come from
# the plan cache), which cost more to decode than the query itself.
_SUMMARY_COLUMNS = (*(c for c in _inc.c if c.name not in ("plan", "acks")), *_PLACE_COLUMNS)
_LIST_FROM = (_inc.outerjoin(_h, _h.c.id == _inc.c.household_id).outerjoin(_g, _g.c.id == _h.c.group_id)
              .outerjoin(_gr, _gr.c.id == _g.c.grid_id).outerjoin(_v, _v.c.id == _gr.c.village_id))


def _conditions(f: IncidentFilter) -> list[Any]:
    checks: list[tuple[object, Any]] = [
        (f.statuses, lambda: _inc.c.status.in_(f.statuses)),
        (f.level is not None, lambda: _inc.c.level == f.level),
        (f.emergency_type, lambda: _inc.c.emergency_type == f.emergency_type),
        (f.grid_id is not None, lambda: _gr.c.id == f.grid_id),
        (f.since, lambda: _inc.c.opened_at >= f.since),
        (f.until, lambda: _inc.c.opened_at < f.until),
    ]
    return [build() for wanted, build in checks if wanted]


def _level_names(conn: Any, rows: Sequence[IncidentListRow]) -> dict[str, tuple[str, ...]]:
    def stored(ids: list[str]) -> list[Any]:
        return list(conn.execute(select(_inc.c.id, _inc.c.plan).where(_inc.c.id.in_(ids))))

    plans = PLANS.plans((r.id for r in rows), stored, plan_from_json)
    return {i: tuple(level.name for level in plan.levels) for i, plan in plans.items()}


class ConsoleQueries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def incidents(self, f: IncidentFilter) -> tuple[list[IncidentListRow], int, dict[str, tuple[str, ...]]]:
        """One page of incidents, newest first, the total that match, and each one's level names."""
        where = and_(True, *_conditions(f))
        page = (select(*_SUMMARY_COLUMNS).select_from(_LIST_FROM).where(where)
                .order_by(_inc.c.opened_at.desc(), _inc.c.id).limit(f.limit).offset(f.offset))
        total = select(func.count()).select_from(_LIST_FROM).where(where)
        with self.engine.connect() as conn:
            rows, count = [_list_row(r) for r in conn.execute(page)], int(conn.execute(total).scalar_one())
            return rows, count, _level_names(conn, rows)

    def summaries(self, ids: list[str]) -> tuple[list[IncidentListRow], dict[str, tuple[str, ...]]]:
        """The list rows of these incidents (those that exist) and their level names: what the live
        stream sends with a new incident, so the queue shows it without refetching the list."""
        query = select(*_SUMMARY_COLUMNS).select_from(_LIST_FROM).where(_inc.c.id.in_(ids))
        with self.engine.connect() as conn:
            rows = [_list_row(r) for r in conn.execute(query)]
            return rows, _level_names(conn, rows)

    def incident(self, incident_id: str) -> IncidentRecord | None:
        query = select(*_LIST_COLUMNS).select_from(_LIST_FROM).where(_inc.c.id == incident_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _record(row)

    def incident_grid(self, incident_id: str) -> tuple[bool, int | None]:
        """Whether the incident exists, and its household's grid (None: unknown caller)."""
        query = select(_inc.c.id, _gr.c.id.label("grid_id")).select_from(_LIST_FROM).where(_inc.c.id == incident_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return (False, None) if row is None else (True, row.grid_id)

    def household_grid(self, household_id: int) -> tuple[bool, int | None]:
        query = select(_g.c.grid_id).select_from(_h.join(_g, _g.c.id == _h.c.group_id)).where(_h.c.id == household_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return (False, None) if row is None else (True, row.grid_id)

    def grids(self) -> list[GridRow]:
        query = (select(_gr.c.id, _gr.c.name, _v.c.name.label("village"), _t.c.name.label("town"))
                 .select_from(_gr.join(_v, _v.c.id == _gr.c.village_id).join(_t, _t.c.id == _v.c.town_id))
                 .order_by(_t.c.name, _v.c.name, _gr.c.name))
        with self.engine.connect() as conn:
            return [GridRow(*r) for r in conn.execute(query)]

    def search_households(self, text: str, grid_id: int | None, limit: int = 50) -> list[HouseholdHitRow]:
        """Households whose label, head, address, code, resident or emergency line contains ``text``."""
        like = f"%{text.strip()}%"
        # Lines are stored as +86…: a trunk prefix "0" as dialled in China is not part of them.
        digits = "".join(ch for ch in text if ch.isdigit()).lstrip("0")
        by_line = exists().where(and_(_line.c.household_id == _h.c.id, _line.c.number.like(f"%{digits}%")))
        match = or_(_h.c.label.like(like), _h.c.head.like(like), _h.c.address.like(like), _h.c.code.like(like),
                    *( [by_line] if len(digits) >= 3 else []))
        query = (select(_h.c.id, _h.c.code, _h.c.label, _h.c.address, _h.c.care_flags, _gr.c.id.label("grid_id"),
                        _gr.c.name.label("grid_name"), _g.c.name.label("group_name"))
                 .select_from(_h.join(_g, _g.c.id == _h.c.group_id).join(_gr, _gr.c.id == _g.c.grid_id))
                 .where(match).order_by(_h.c.label).limit(limit))
        if grid_id is not None:
            query = query.where(_gr.c.id == grid_id)
        with self.engine.connect() as conn:
            return [HouseholdHitRow(*r) for r in conn.execute(query)]

    def responder(self, responder_id: int) -> ResponderEntry | None:
        query = select(_resp.c.id, _resp.c.name, _resp.c.phone, _resp.c.role, _resp.c.scope_level, _resp.c.scope_id)
        with self.engine.connect() as conn:
            row = conn.execute(query.where(_resp.c.id == responder_id)).first()
        return None if row is None else ResponderEntry(*row)

    def incidents_since(self, since: datetime, until: datetime, grid_id: int | None) -> list[IncidentRecord]:
        f = IncidentFilter(grid_id=grid_id, since=since, until=until)
        query = select(*_LIST_COLUMNS).select_from(_LIST_FROM).where(and_(True, *_conditions(f)))
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(query)]

    def alert_call_legs(self, since: datetime, until: datetime, grid_id: int | None) -> list[AlertCallLeg]:
        """Placed alert calls of incidents in the period, with the grid of each incident."""
        f = IncidentFilter(grid_id=grid_id, since=since, until=until)
        query = (select(_leg.c.status, _gr.c.id.label("grid_id"), _gr.c.name.label("grid_name"))
                 .select_from(_LIST_FROM.join(_leg, _leg.c.incident_id == _inc.c.id))
                 .where(and_(_leg.c.channel == "call", _leg.c.purpose == "alert",
                             _leg.c.status.notin_(("pending", "cancelled")), *_conditions(f))))
        with self.engine.connect() as conn:
            return [AlertCallLeg(*r) for r in conn.execute(query)]

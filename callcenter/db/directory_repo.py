"""SQL implementation of the directory reader: caller lookup and household profiles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, Row, bindparam, select

from callcenter.db.tables import (
    EmergencyLine,
    Grid,
    Household,
    JointDefenseGroup,
    ResponderRow,
    Town,
    Village,
    scope_key,
)
from contacts.model import (
    CallerLookup,
    CareFlag,
    Contact,
    HouseholdProfile,
    Place,
    Responder,
    Role,
    ScopeLevel,
    order_responders,
)
from contacts.phones import DEFAULT_POLICY, PhonePolicy, try_normalise

_h, _g, _gr, _v, _t = (
    Household.__table__,  # type: ignore[attr-defined]
    JointDefenseGroup.__table__,  # type: ignore[attr-defined]
    Grid.__table__,  # type: ignore[attr-defined]
    Village.__table__,  # type: ignore[attr-defined]
    Town.__table__,  # type: ignore[attr-defined]
)
_line = EmergencyLine.__table__  # type: ignore[attr-defined]
_resp = ResponderRow.__table__  # type: ignore[attr-defined]

_PLACE_COLUMNS = (
    _t.c.id.label("town_id"), _t.c.name.label("town"),
    _v.c.id.label("village_id"), _v.c.name.label("village"),
    _gr.c.id.label("grid_id"), _gr.c.name.label("grid"),
    _g.c.id.label("group_id"), _g.c.name.label("group_name"),
)
_HOUSEHOLD_FROM = (
    _h.join(_g, _g.c.id == _h.c.group_id)
    .join(_gr, _gr.c.id == _g.c.grid_id)
    .join(_v, _v.c.id == _gr.c.village_id)
    .join(_t, _t.c.id == _v.c.town_id)
)
_LINES_OF = select(_line.c.number).where(_line.c.household_id == bindparam("hid")).order_by(_line.c.number)

# Caller lookup: the line's primary key leads to the household and its four levels in one join.
_BY_LINE = (
    select(_h, *_PLACE_COLUMNS)
    .select_from(_line.join(_HOUSEHOLD_FROM, _h.c.id == _line.c.household_id))
    .where(_line.c.number == bindparam("number"))
)
_BY_ID = select(_h, *_PLACE_COLUMNS).select_from(_HOUSEHOLD_FROM).where(_h.c.id == bindparam("hid"))
_BY_CODE = select(_h, *_PLACE_COLUMNS).select_from(_HOUSEHOLD_FROM).where(_h.c.code == bindparam("code"))
_RESPONDERS = select(_resp).where(_resp.c.scope_key.in_(bindparam("keys", expanding=True)))


class SqlDirectory:
    """Reads the directory. Every method is one or two indexed queries."""

    def __init__(self, engine: Engine, policy: PhonePolicy = DEFAULT_POLICY) -> None:
        self._engine = engine
        self._policy = policy

    def household_by_caller(self, number: str) -> CallerLookup | None:
        canonical = try_normalise(number, self._policy)
        if canonical is None:
            return None
        return self._lookup(_BY_LINE, {"number": canonical})

    def household_by_id(self, household_id: int) -> CallerLookup | None:
        return self._lookup(_BY_ID, {"hid": household_id})

    def household_by_code(self, code: str) -> CallerLookup | None:
        return self._lookup(_BY_CODE, {"code": code})

    def _lookup(self, query: Any, params: dict[str, Any]) -> CallerLookup | None:
        with self._engine.connect() as conn:
            row = conn.execute(query, params).first()
            if row is None:
                return None
            place = _place(row)
            lines = tuple(conn.execute(_LINES_OF, {"hid": row.id}).scalars())
            keys = [scope_key(level, ident) for level, ident in _levels(place)]
            responders = [_responder(r) for r in conn.execute(_RESPONDERS, {"keys": keys})]
        own, neighbours, upper = order_responders(responders, row.id)
        return CallerLookup(_profile(row, lines), place, own, neighbours, upper)


def _levels(place: Place) -> Sequence[tuple[str, int]]:
    return (
        (ScopeLevel.GROUP, place.group_id),
        (ScopeLevel.GRID, place.grid_id),
        (ScopeLevel.VILLAGE, place.village_id),
        (ScopeLevel.TOWN, place.town_id),
    )


def _place(row: Row[Any]) -> Place:
    return Place(
        town_id=row.town_id, town=row.town, village_id=row.village_id, village=row.village,
        grid_id=row.grid_id, grid=row.grid, group_id=row.group_id, group=row.group_name,
    )


def _profile(row: Row[Any], lines: tuple[str, ...]) -> HouseholdProfile:
    return HouseholdProfile(
        id=row.id,
        code=row.code,
        label=row.label,
        head=row.head,
        address=row.address,
        emergency_lines=lines,
        care_flags=frozenset(CareFlag(f) for f in row.care_flags),
        residents=tuple(row.residents),
        key_holders=tuple(Contact(k["name"], k["phone"]) for k in row.key_holders),
        notes=row.notes,
    )


def _responder(row: Row[Any]) -> Responder:
    return Responder(
        id=row.id, name=row.name, phone=row.phone, role=Role(row.role),
        scope=ScopeLevel(row.scope_level), scope_id=row.scope_id, household_id=row.household_id,
    )

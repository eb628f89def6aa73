"""Operator edits of the directory (special-care flags, notes, key holders, responders) and the
coverage report of a grid or village: where an alert would reach too few people."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, exists, func, select, update

from callcenter.db.console_queries import ResponderEntry
from callcenter.db.tables import EmergencyLine, Grid, Household, JointDefenseGroup, ResponderRow, Village

__all__ = ["DirectoryEdits"]

_h = Household.__table__  # type: ignore[attr-defined]
_g = JointDefenseGroup.__table__  # type: ignore[attr-defined]
_gr = Grid.__table__  # type: ignore[attr-defined]
_v = Village.__table__  # type: ignore[attr-defined]
_line = EmergencyLine.__table__  # type: ignore[attr-defined]
_resp = ResponderRow.__table__  # type: ignore[attr-defined]
MIN_GROUP_RESPONDERS = 2


@dataclass(frozen=True, slots=True)
class Coverage:
    thin_groups: list[Any]  # group, grid, village, responders
    households_without_line: list[Any]
    grids_without_worker: list[Any]


class DirectoryEdits:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def household_fields(self, household_id: int) -> dict[str, Any] | None:
        query = select(_h.c.care_flags, _h.c.notes, _h.c.key_holders).where(_h.c.id == household_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else dict(row._mapping)

    def update_household(self, household_id: int, values: dict[str, Any]) -> None:
        if not values:  # an empty change changes nothing (and UPDATE needs a SET)
            return
        with self.engine.begin() as conn:
            conn.execute(update(_h).where(_h.c.id == household_id).values(**values))

    def update_responder(self, responder_id: int, values: dict[str, Any]) -> None:
        if not values:  # an empty change changes nothing (and UPDATE needs a SET)
            return
        with self.engine.begin() as conn:
            conn.execute(update(_resp).where(_resp.c.id == responder_id).values(**values))

    def responder_grid(self, row: ResponderEntry) -> int | None:
        """The grid a responder belongs to (None above grid level: village, town)."""
        if row.scope_level == "grid":
            return int(row.scope_id)
        if row.scope_level == "group":
            with self.engine.connect() as conn:
                return conn.execute(select(_g.c.grid_id).where(_g.c.id == row.scope_id)).scalar_one_or_none()
        return None

    def coverage(self, grid_id: int | None = None, village_id: int | None = None) -> Coverage:
        return Coverage(self._thin_groups(grid_id, village_id), self._without_line(grid_id, village_id),
                        self._without_worker(grid_id, village_id))

    def _thin_groups(self, grid_id: int | None, village_id: int | None) -> list[Any]:
        count = (select(func.count(func.distinct(_resp.c.phone)))
                 .where(and_(_resp.c.scope_level == "group", _resp.c.scope_id == _g.c.id, _resp.c.phone != ""))
                 .scalar_subquery())
        query = (select(_g.c.id, _g.c.name, _gr.c.name.label("grid"), _v.c.name.label("village"),
                        count.label("responders"))
                 .select_from(_g.join(_gr, _gr.c.id == _g.c.grid_id).join(_v, _v.c.id == _gr.c.village_id))
                 .where(and_(count < MIN_GROUP_RESPONDERS, *_place(grid_id, village_id)))
                 .order_by(_v.c.name, _gr.c.name))
        with self.engine.connect() as conn:
            return list(conn.execute(query.limit(500)))

    def _without_line(self, grid_id: int | None, village_id: int | None) -> list[Any]:
        has_line = exists().where(_line.c.household_id == _h.c.id)
        query = (select(_h.c.id, _h.c.code, _h.c.label, _h.c.address, _gr.c.name.label("grid"),
                        _v.c.name.label("village"))
                 .select_from(_h.join(_g, _g.c.id == _h.c.group_id).join(_gr, _gr.c.id == _g.c.grid_id)
                              .join(_v, _v.c.id == _gr.c.village_id))
                 .where(and_(~has_line, *_place(grid_id, village_id))).order_by(_h.c.label))
        with self.engine.connect() as conn:
            return list(conn.execute(query.limit(500)))

    def _without_worker(self, grid_id: int | None, village_id: int | None) -> list[Any]:
        worker = exists().where(and_(_resp.c.role == "grid_worker", _resp.c.scope_level == "grid",
                                     _resp.c.scope_id == _gr.c.id))
        query = (select(_gr.c.id, _gr.c.name, _v.c.name.label("village"))
                 .select_from(_gr.join(_v, _v.c.id == _gr.c.village_id))
                 .where(and_(~worker, *_place(grid_id, village_id))).order_by(_v.c.name, _gr.c.name))
        with self.engine.connect() as conn:
            return list(conn.execute(query.limit(500)))


def _place(grid_id: int | None, village_id: int | None) -> list[Any]:
    conditions = []
    if grid_id is not None:
        conditions.append(_gr.c.id == grid_id)
    if village_id is not None:
        conditions.append(_v.c.id == village_id)
    return conditions

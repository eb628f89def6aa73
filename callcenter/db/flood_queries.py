"""Read model of the operators' flood banner: how many incidents wait, and for what, from the database.

The database is true across instances (any of them may have opened an incident or placed its calls),
so the banner counts there rather than in one process's memory. One round trip of aggregates: a flood
has about a thousand open incidents, and every operator's console asks every few seconds. The counts
use ``ix_incident_status_escalation`` (open incidents by status), the legs' ``incident_id`` index (has
one of its calls been placed?) and ``ix_alert_leg_status_due`` (calls queued): 20-50 ms on PostgreSQL
and SQLite for a thousand alerting incidents of twenty legs each (a shared two-core machine). The answer is kept for
``fresh_seconds``, so the database answers once per scope that often however many consoles ask.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, case, exists, func, not_, select

from callcenter.db.incident_tables import AlertLegRow, IncidentRow
from callcenter.db.tables import Household, JointDefenseGroup

__all__ = ["FloodCounts", "FloodQueries"]

_inc = IncidentRow.__table__  # type: ignore[attr-defined]
_leg = AlertLegRow.__table__  # type: ignore[attr-defined]
_h = Household.__table__  # type: ignore[attr-defined]
_g = JointDefenseGroup.__table__  # type: ignore[attr-defined]

# A call in one of these has not reached anyone's phone (callcenter.domain.types.LegStatus.was_placed).
_UNPLACED = ("pending", "queued", "cancelled")


@dataclass(frozen=True, slots=True)
class FloodCounts:
    """Open incidents and the calls waiting for a trunk channel, as stored now.

    ``alerting``: incidents still alerting (quorum not met); ``never_called``: those of them with no
    alert call placed yet (every call still pending or queued, or none planned: held incidents);
    ``waiting_for_quorum``: those of them someone acknowledged, not yet enough; ``acknowledged``:
    quorum met, not closed; ``calls_queued``: call legs handed to a call channel that waits for a
    free trunk channel.
    """

    alerting: int
    never_called: int
    waiting_for_quorum: int
    acknowledged: int
    calls_queued: int


class FloodQueries:
    def __init__(self, engine: Engine, fresh_seconds: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.fresh_seconds = fresh_seconds
        self._clock = clock
        self._recent: dict[int | None, tuple[float, FloodCounts]] = {}
        self._lock = threading.Lock()

    def counts(self, grid_id: int | None = None) -> FloodCounts:
        """The district's counts, or one grid's (its households' incidents and their calls), at most
        ``fresh_seconds`` old."""
        now = self._clock()
        with self._lock:
            kept = self._recent.get(grid_id)
        if kept is not None and now - kept[0] < self.fresh_seconds:
            return kept[1]
        found = self._read(grid_id)
        with self._lock:
            self._recent[grid_id] = (now, found)
        return found

    def _read(self, grid_id: int | None) -> FloodCounts:
        scope = _in_grid(grid_id)
        alerting = _inc.c.status == "alerting"
        placed = exists().where(and_(_leg.c.incident_id == _inc.c.id, _leg.c.channel == "call",
                                     _leg.c.purpose == "alert", _leg.c.status.notin_(_UNPLACED)))
        queued_legs = [_leg.c.status == "queued", _leg.c.channel == "call"]
        if scope:
            queued_legs.append(_leg.c.incident_id.in_(select(_inc.c.id).where(*scope)))
        queued = select(func.count()).select_from(_leg).where(*queued_legs).scalar_subquery()
        query = (select(_count(alerting), _count(and_(alerting, not_(placed))),
                        _count(and_(alerting, func.json_array_length(_inc.c.acks) > 0)),
                        _count(_inc.c.status == "acknowledged"), queued)
                 .select_from(_inc).where(_inc.c.status.in_(("alerting", "acknowledged")), *scope))
        with self.engine.connect() as conn:
            row = conn.execute(query).one()
        return FloodCounts(*(int(value or 0) for value in row))


def _count(condition: Any) -> Any:
    return func.count(case((condition, 1)))


def _in_grid(grid_id: int | None) -> list[Any]:
    """Conditions on incidents: none for the district, its households' for a grid."""
    if grid_id is None:
        return []
    households = select(_h.c.id).join(_g, _g.c.id == _h.c.group_id).where(_g.c.grid_id == grid_id)
    return [_inc.c.household_id.in_(households)]

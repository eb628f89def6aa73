"""Read model for the Prometheus metrics: counts over incidents and alert legs, read at scrape time
(every instance reports what the database holds). Typed rows out; the collectors in
``callcenter/web/metrics.py`` turn them into metric families."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine, func, select

from callcenter.db.incident_tables import AlertLegRow, IncidentEventRow, IncidentRow
from callcenter.domain.incident import HELD_LEVEL

__all__ = ["IncidentCounts", "LegCount", "ProviderFailures", "RecentIncident", "TrustCount", "incident_counts"]

_inc = IncidentRow.__table__  # type: ignore[attr-defined]
_leg = AlertLegRow.__table__  # type: ignore[attr-defined]
_event = IncidentEventRow.__table__  # type: ignore[attr-defined]


class LegCount(NamedTuple):
    channel: str
    status: str
    legs: int


class ProviderFailures(NamedTuple):
    provider: str  # "" for a leg that failed before any provider took it
    legs: int


class TrustCount(NamedTuple):
    trust: str
    incidents: int


class RecentIncident(NamedTuple):
    opened_at: datetime
    acks: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class IncidentCounts:
    by_status: dict[str, int]
    legs: list[LegCount]
    failures: list[ProviderFailures]
    queue_depth: int  # legs stored but not yet placed
    overdue: int  # open incidents the auditor flagged
    recent: list[RecentIncident]  # incidents opened since the given time
    by_trust: list[TrustCount]
    held: int  # open incidents of unverified callers waiting for an operator


def incident_counts(engine: Engine, since: datetime) -> IncidentCounts:
    with engine.connect() as conn:
        counts = conn.execute(select(_inc.c.status, func.count()).group_by(_inc.c.status)).all()
        legs = conn.execute(select(_leg.c.channel, _leg.c.status, func.count())
                            .group_by(_leg.c.channel, _leg.c.status)).all()
        failures = conn.execute(select(_leg.c.provider, func.count()).where(_leg.c.status == "failed")
                                .group_by(_leg.c.provider)).all()
        depth = conn.execute(select(func.count()).where(_leg.c.status == "pending")).scalar_one()
        overdue = conn.execute(select(func.count(func.distinct(_event.c.incident_id)))
                               .select_from(_event.join(_inc, _inc.c.id == _event.c.incident_id))
                               .where(_event.c.kind == "audit_overdue",
                                      _inc.c.status.in_(("alerting", "acknowledged")))).scalar_one()
        recent = conn.execute(select(_inc.c.opened_at, _inc.c.acks).where(_inc.c.opened_at >= since)).all()
        trusts = conn.execute(select(_inc.c.caller_trust, func.count()).group_by(_inc.c.caller_trust)).all()
        held = conn.execute(select(func.count()).where(_inc.c.status == "alerting",
                                                       _inc.c.level == HELD_LEVEL)).scalar_one()
    return IncidentCounts(
        by_status={str(s): int(n) for s, n in counts},
        legs=[LegCount(str(c), str(s), int(n)) for c, s, n in legs],
        failures=[ProviderFailures(p, int(n)) for p, n in failures],
        queue_depth=int(depth), overdue=int(overdue),
        recent=[RecentIncident(o, a) for o, a in recent],
        by_trust=[TrustCount(str(t), int(n)) for t, n in trusts],
        held=int(held),
    )

"""Read model for the Prometheus metrics: counts over incidents and alert legs, read at scrape time
(every instance reports what the database holds). Typed rows out; the collectors in
``callcenter/web/metrics.py`` turn them into metric families."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine, func, select

from callcenter.db.incident_tables import AlertLegRow, IncidentEventRow, IncidentRow
from callcenter.domain.delivery import DeliveryFailure, failure_of
from callcenter.domain.incident import HELD_LEVEL

__all__ = ["IncidentCounts", "LegCount", "ProviderFailures", "RecentIncident", "TrustCount", "UndeliveredCount",
           "incident_counts"]

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


class UndeliveredCount(NamedTuple):
    provider: str
    reason: str  # a DeliveryFailure value, "other" for a detail no provider mapping wrote
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
    undelivered: list[UndeliveredCount]  # SMS legs a provider reported undelivered, by why


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
        undelivered = conn.execute(select(_leg.c.provider, _leg.c.detail, func.count())
                                   .where(_leg.c.status == "undelivered")
                                   .group_by(_leg.c.provider, _leg.c.detail)).all()
    return IncidentCounts(
        by_status={str(s): int(n) for s, n in counts},
        legs=[LegCount(str(c), str(s), int(n)) for c, s, n in legs],
        failures=[ProviderFailures(p, int(n)) for p, n in failures],
        queue_depth=int(depth), overdue=int(overdue),
        recent=[RecentIncident(o, a) for o, a in recent],
        by_trust=[TrustCount(str(t), int(n)) for t, n in trusts],
        held=int(held),
        undelivered=_by_reason(undelivered),
    )


def _by_reason(rows: Sequence[Any]) -> list[UndeliveredCount]:
    """(provider, detail, legs) rows summed by the reason each detail names (callcenter.domain.delivery)."""
    counts: Counter[tuple[str, str]] = Counter()
    for provider, detail, legs in rows:
        reason = failure_of(str(detail)) or DeliveryFailure.OTHER
        counts[(str(provider), reason.value)] += int(legs)
    return [UndeliveredCount(p, r, n) for (p, r), n in sorted(counts.items())]

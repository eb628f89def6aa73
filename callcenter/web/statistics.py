"""Statistics of the service: pure functions over incident and leg rows (time is a parameter)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from callcenter.db.console_queries import AlertCallLeg, IncidentRecord

__all__ = ["CST", "Statistics", "compute", "first_ack_seconds", "percentile"]

# Operators read days in China Standard Time.
CST = timezone(timedelta(hours=8))
ANSWERED = frozenset({"acknowledged", "declined"})  # a person pressed a key; voicemail is not an answer


@dataclass(frozen=True, slots=True)
class GridRate:
    grid: str
    answered: int
    placed: int

    @property
    def rate(self) -> float:
        return self.answered / self.placed if self.placed else 0.0


@dataclass(frozen=True, slots=True)
class Statistics:
    days: list[tuple[date, int]]
    by_type: list[tuple[str, int]]
    total: int
    acknowledged: int
    p50: float | None
    p90: float | None
    target_seconds: int
    within_target: float  # share of acknowledged incidents acknowledged within the target
    levels: list[tuple[str, float]]  # share of incidents that reached each escalation level
    grids: list[GridRate]


def first_ack_seconds(opened_at: datetime, acks: list[dict[str, Any]]) -> float | None:
    if not acks:
        return None
    first = min(datetime.fromisoformat(a["at"]) for a in acks)
    return max(0.0, (first - opened_at).total_seconds())


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def compute(incidents: Sequence[IncidentRecord], legs: Sequence[AlertCallLeg], since: date, until: date,
            target_seconds: int, type_labels: dict[str, str]) -> Statistics:
    ack_times = [s for s in (first_ack_seconds(r.opened_at, r.acks) for r in incidents) if s is not None]
    return Statistics(
        days=_per_day(incidents, since, until),
        by_type=[(type_labels.get(t, t), n) for t, n in Counter(r.emergency_type for r in incidents).most_common()],
        total=len(incidents), acknowledged=len(ack_times),
        p50=percentile(ack_times, 50), p90=percentile(ack_times, 90), target_seconds=target_seconds,
        within_target=sum(1 for s in ack_times if s <= target_seconds) / len(ack_times) if ack_times else 0.0,
        levels=_level_shares(incidents), grids=_grid_rates(legs),
    )


def _per_day(incidents: Sequence[IncidentRecord], since: date, until: date) -> list[tuple[date, int]]:
    counts = Counter(r.opened_at.astimezone(CST).date() for r in incidents)
    span = (until - since).days
    return [(since + timedelta(days=n), counts.get(since + timedelta(days=n), 0)) for n in range(span + 1)]


def _level_shares(incidents: Sequence[IncidentRecord]) -> list[tuple[str, float]]:
    if not incidents:
        return []
    names = [lv["name"] for lv in max((r.plan.get("levels", []) for r in incidents), key=len)]
    reached = Counter(r.level for r in incidents)
    shares: list[tuple[str, float]] = []
    for index, name in enumerate(names):
        at_least = sum(n for level, n in reached.items() if level >= index)
        shares.append((name, at_least / len(incidents)))
    return shares


def _grid_rates(legs: Sequence[AlertCallLeg]) -> list[GridRate]:
    placed: Counter[str] = Counter()
    answered: Counter[str] = Counter()
    for leg in legs:
        grid = leg.grid_name or "—"
        placed[grid] += 1
        answered[grid] += leg.status in ANSWERED
    return sorted((GridRate(g, answered[g], n) for g, n in placed.items()), key=lambda r: (r.rate, r.grid))

"""Statistics API: incidents per day and by type, time to first acknowledgement against the target,
share reaching each escalation level, answer rates per grid."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel

from callcenter.accounts.roles import Permission, User
from callcenter.api.deps import ContainerDep, require
from callcenter.bootstrap import ConsoleContainer
from callcenter.domain.types import EMERGENCY_TYPE_LABELS
from callcenter.web.statistics import CST, Statistics, compute

__all__ = [
    "MAX_DAYS",
    "Analyst",
    "DayCount",
    "GridAnswerRate",
    "Share",
    "StatisticsPublic",
    "TypeCount",
    "gather",
    "router",
    "statistics",
]

router = APIRouter(prefix="/api", tags=["statistics"])
Analyst = Annotated[User, Depends(require(Permission.VIEW_STATISTICS))]
MAX_DAYS = 366


class DayCount(BaseModel):
    day: date
    incidents: int


class TypeCount(BaseModel):
    name: str
    incidents: int


class Share(BaseModel):
    name: str
    share: float


class GridAnswerRate(BaseModel):
    grid: str
    answered: int
    placed: int
    rate: float


class StatisticsPublic(BaseModel):
    since: date
    until: date
    total: int
    acknowledged: int
    first_ack_p50_seconds: float | None
    first_ack_p90_seconds: float | None
    first_ack_target_seconds: int
    within_target: float
    per_day: list[DayCount]
    by_type: list[TypeCount]
    levels: list[Share]
    grids: list[GridAnswerRate]


def gather(container: ConsoleContainer, user: User, since: date | None, until: date | None
           ) -> tuple[date, date, Statistics]:
    """The statistics of ``since``..``until`` (days in China time, default the last 30 days)."""
    until = until or datetime.now(CST).date()
    since = since or until - timedelta(days=29)
    if since > until or (until - since).days >= MAX_DAYS:
        raise HTTPException(422, f"the period runs forwards and spans at most {MAX_DAYS} days")
    start = datetime.combine(since, time(), CST).astimezone(UTC)
    end = datetime.combine(until + timedelta(days=1), time(), CST).astimezone(UTC)
    queries = container.console_queries
    incidents = queries.incidents_since(start, end, user.grid_scope)
    legs = queries.alert_call_legs(start, end, user.grid_scope)
    labels = {str(k): v for k, v in EMERGENCY_TYPE_LABELS.items()}
    stats = compute(incidents, legs, since, until, container.settings.console.first_ack_target_seconds, labels)
    return since, until, stats


@router.get("/statistics", response_model=StatisticsPublic, summary="Service statistics of a period")
def statistics(user: Analyst, container: ContainerDep, since: date | None = None,
               until: date | None = None) -> StatisticsPublic:
    since, until, s = gather(container, user, since, until)
    return StatisticsPublic(
        since=since, until=until, total=s.total, acknowledged=s.acknowledged, first_ack_p50_seconds=s.p50,
        first_ack_p90_seconds=s.p90, first_ack_target_seconds=s.target_seconds, within_target=s.within_target,
        per_day=[DayCount(day=d, incidents=n) for d, n in s.days],
        by_type=[TypeCount(name=t, incidents=n) for t, n in s.by_type],
        levels=[Share(name=n, share=v) for n, v in s.levels],
        grids=[GridAnswerRate(grid=g.grid, answered=g.answered, placed=g.placed, rate=g.rate) for g in s.grids],
    )

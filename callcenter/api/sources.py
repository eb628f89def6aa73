"""Sources of unverified presses: which are banned, and an operator's lift of a ban.

A ban is decided by the press ledger (callcenter/service/press_ledger.py); this is the operators' view
of it, read from the database so that every instance's sources show. Not for grid workers: a source's
claimed lines span every grid.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool

from callcenter.accounts.roles import Permission, User
from callcenter.api.console_schemas import SourceState
from callcenter.api.deps import ContainerDep, client_address, csrf_protect, require
from callcenter.domain.sources import SourceRecord

__all__ = ["Guard", "lift", "list_sources", "router", "state"]

router = APIRouter(prefix="/api/sources", tags=["edge"], dependencies=[Depends(csrf_protect)])
Guard = Annotated[User, Depends(require(Permission.GUARD_EDGE))]


@router.get("", response_model=list[SourceState], summary="Sources of unverified presses, banned first")
def list_sources(user: Guard, container: ContainerDep,
                 banned: Annotated[bool, Query(description="only sources banned now")] = False) -> list[SourceState]:
    now = datetime.now(UTC)
    found = [state(r, now) for r in container.press_ledger.records.sources()]
    if banned:
        found = [s for s in found if s.banned]
    return sorted(found, key=lambda s: (not s.banned, -(s.last_at.timestamp() if s.last_at else 0)))


@router.post("/{source}/lift", response_model=SourceState, responses={404: {"description": "Unknown source"}},
             summary="Lift a source's ban: its held incidents stay held until released one by one")
async def lift(source: str, user: Guard, container: ContainerDep, request: Request) -> SourceState:
    def work() -> SourceState:
        now = datetime.now(UTC)
        lifted = container.press_ledger.lift(source, now)
        if lifted is None:
            raise HTTPException(404, f"no unverified press came from {source}")
        before, after = lifted
        container.accounts.audit(user, "lift_ban", f"source:{source}", {"banned": before.banned(now)},
                                 {"banned": False}, client_address(request))
        return state(after, now)
    return await run_in_threadpool(work)


def state(record: SourceRecord, now: datetime) -> SourceState:
    return SourceState(
        source=record.source, banned=record.banned(now), banned_at=record.banned_at,
        banned_until=record.banned_until, presses_while_banned=record.presses_while_banned,
        recent_presses=len(record.recent), lines=list(record.lines), incidents=list(record.incidents),
        last_at=record.last_at)

"""Live updates: server-sent events fed from the in-process event bus.

Each event names the incident and what happened; the console then fetches what it shows, except
that an "opened" event carries the new incident's queue row. A grid worker's stream carries only
incidents of their grid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import SQLAlchemyError

from callcenter.accounts.roles import Permission, User
from callcenter.adapters.events import Published
from callcenter.api import incident_view as view
from callcenter.api.deps import SESSION_COOKIE, ContainerDep, require
from callcenter.bootstrap import ConsoleContainer

__all__ = ["KEEPALIVE_SECONDS", "Lifetime", "Viewer", "events", "router"]

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["live"])
Viewer = Annotated[User, Depends(require(Permission.VIEW_INCIDENTS))]
KEEPALIVE_SECONDS = 15.0
_QUEUE_LIMIT = 10_000


Lifetime = Annotated[float, Query(gt=0, le=3600,
                                  description="seconds before the server closes the stream; browsers reconnect")]


@router.get("/events", summary="Server-sent events: one `incident` event per change of an incident",
            response_class=StreamingResponse)
async def events(request: Request, user: Viewer, container: ContainerDep, lifetime: Lifetime = 600,
                 ) -> StreamingResponse:
    session = _Session(request.cookies.get(SESSION_COOKIE, ""), user,
                       container.settings.console.live_session_check_seconds)
    return StreamingResponse(_stream(request, session, container, lifetime), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


class _Session:
    """The stream's session, asked again every ``check_seconds``: a stream outlives its request, and
    a user signed out, disabled or deleted must stop receiving incidents within that time."""

    def __init__(self, token: str, user: User, check_seconds: float) -> None:
        self.token, self.user, self.check_seconds = token, user, check_seconds
        self.next_check = time.monotonic() + check_seconds

    def seconds_to_check(self) -> float:
        return max(self.next_check - time.monotonic(), 0.0)

    async def still_valid(self, container: ConsoleContainer) -> bool:
        """True until the session is gone; asks the database only when a check is due."""
        if time.monotonic() < self.next_check:
            return True
        self.next_check = time.monotonic() + self.check_seconds
        try:
            user = await run_in_threadpool(container.accounts.user_for_session, self.token)
        except SQLAlchemyError:  # database outage: the operators keep their queue, checked again later
            return True
        if user is None:
            return False
        self.user = user  # a changed grid applies at once
        return True


class _Inbox:
    """One stream's events, handed over from the engine's threads.

    Appended without the event loop, which is woken once per batch: in a flood the engine publishes
    hundreds of events a second, and a wake-up and a network write per event kept the loop (and the
    interpreter lock) busy enough to delay the incidents the operators were waiting for.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int = _QUEUE_LIMIT) -> None:
        self._loop, self._limit = loop, limit
        self._items: deque[Published] = deque()
        self._lock = threading.Lock()
        self._ready = asyncio.Event()  # touched on the loop only
        self._wake_pending = False

    def put(self, item: Published) -> None:
        """Any thread. A stalled browser misses events beyond the limit, then refetches."""
        with self._lock:
            if len(self._items) >= self._limit:
                return
            self._items.append(item)
            if self._wake_pending:
                return
            self._wake_pending = True
        with contextlib.suppress(RuntimeError):  # the loop is gone: the stream is ending and unsubscribes
            self._loop.call_soon_threadsafe(self._ready.set)

    async def take(self, timeout: float) -> list[Published]:
        """Everything that arrived, oldest first; TimeoutError when nothing did within ``timeout``."""
        await asyncio.wait_for(self._ready.wait(), timeout)
        with self._lock:
            self._ready.clear()
            self._wake_pending = False
            items = list(self._items)
            self._items.clear()
        return items


async def _stream(request: Request, session: _Session, container: ConsoleContainer,
                  lifetime: float) -> AsyncIterator[str]:
    """Subscribed for exactly as long as the stream runs, before its first byte (no event is missed
    between the browser's "connected" and its refetch)."""
    inbox = _Inbox(asyncio.get_running_loop())
    unsubscribe = container.events.subscribe(inbox.put)
    try:
        async for chunk in _relay(request, inbox, session, container, time.monotonic() + lifetime):
            yield chunk
    finally:
        unsubscribe()


async def _relay(request: Request, inbox: _Inbox, session: _Session, container: ConsoleContainer,
                 ends: float) -> AsyncIterator[str]:
    grids: dict[str, int | None] = {}
    yield "retry: 2000\n: connected\n\n"
    keepalive = time.monotonic() + KEEPALIVE_SECONDS
    while (now := time.monotonic()) < ends:
        if not await session.still_valid(container):
            yield "event: session_ended\ndata: {}\n\n"
            return
        try:
            items = await inbox.take(max(min(keepalive, ends, now + session.seconds_to_check()) - now, 0.01))
        except TimeoutError:
            # Asked only when idle: a gone browser otherwise ends the stream at the next write. Asked
            # per batch, each answer left a cancelled scope and its traceback for the cyclic garbage
            # collector, ~20 a second in a flood: most of that collector's work (docs/benchmarks.md).
            if await request.is_disconnected():
                return
            if time.monotonic() >= keepalive:
                keepalive = time.monotonic() + KEEPALIVE_SECONDS
                yield ": keep-alive\n\n"
            continue
        user = session.user
        rows = await _new_incidents(container, items, grids)
        messages = [_message(item, rows.get(item.incident_id) if item.event.kind == "opened" else None)
                    for item in items
                    if user.grid_scope is None or await _in_grid(container, item.incident_id, user, grids)]
        if messages:
            yield "".join(messages)  # one write for the batch; still one SSE event per incident event


async def _new_incidents(container: ConsoleContainer, items: list[Published],
                         grids: dict[str, int | None]) -> dict[str, dict[str, Any]]:
    """The queue rows of the incidents opened in this batch, read in one query. Sent with their
    "opened" event, a new incident is on the operators' screen without waiting for a list refetch,
    which in a flood is the slowest thing between a press and the screen."""
    opened = [item.incident_id for item in items if item.event.kind == "opened"]
    if not opened:
        return {}
    try:
        rows, levels = await run_in_threadpool(container.console_queries.summaries, opened)
    except SQLAlchemyError:  # database outage: the event still goes out and the page refetches
        log.warning("live stream: could not read %d new incident(s); sent without their rows", len(opened))
        return {}
    grids.update((row.id, row.grid_id) for row in rows)
    return {row.id: view.summary(row, levels[row.id]).model_dump(mode="json") for row in rows}


def _message(item: Published, row: dict[str, Any] | None = None) -> str:
    data: dict[str, Any] = {"incident_id": item.incident_id, "kind": item.event.kind, "at": item.event.at.isoformat()}
    if row is not None:
        data["summary"] = row
    if item.event.kind == "leg_status":  # which leg moved, and to what: a neighbour's "1" is visible as such
        data["leg"], data["status"] = str(item.event.data.get("leg", "")), str(item.event.data.get("status", ""))
    return f"event: incident\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _in_grid(container: ConsoleContainer, incident_id: str, user: User, cache: dict[str, int | None]) -> bool:
    if incident_id not in cache:
        _, cache[incident_id] = await run_in_threadpool(container.console_queries.incident_grid, incident_id)
    return user.sees_grid(cache[incident_id])

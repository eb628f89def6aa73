"""Live updates: server-sent events fed from the in-process event bus.

Each event names the incident and what happened; the console then fetches what it shows. A grid
worker's stream carries only incidents of their grid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from callcenter.accounts.roles import Permission, User
from callcenter.adapters.events import Published
from callcenter.api.deps import ContainerDep, require
from callcenter.bootstrap import ConsoleContainer

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
    return StreamingResponse(_stream(request, user, container, lifetime), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _offer(queue: asyncio.Queue[Published], item: Published) -> None:
    with contextlib.suppress(asyncio.QueueFull):  # a stalled browser misses events, then refetches
        queue.put_nowait(item)


async def _stream(request: Request, user: User, container: ConsoleContainer, lifetime: float) -> AsyncIterator[str]:
    """Subscribed for exactly as long as the stream runs, before its first byte (no event is missed
    between the browser's "connected" and its refetch)."""
    queue: asyncio.Queue[Published] = asyncio.Queue(_QUEUE_LIMIT)
    loop = asyncio.get_running_loop()

    def on_event(item: Published) -> None:  # called on the engine's threads
        with contextlib.suppress(RuntimeError):  # the loop is gone: the stream is ending and unsubscribes
            loop.call_soon_threadsafe(_offer, queue, item)

    unsubscribe = container.events.subscribe(on_event)
    try:
        async for chunk in _relay(request, queue, user, container, time.monotonic() + lifetime):
            yield chunk
    finally:
        unsubscribe()


async def _relay(request: Request, queue: asyncio.Queue[Published], user: User, container: ConsoleContainer,
                 ends: float) -> AsyncIterator[str]:
    grids: dict[str, int | None] = {}
    yield "retry: 2000\n: connected\n\n"
    while not await request.is_disconnected() and time.monotonic() < ends:
        try:
            item = await asyncio.wait_for(queue.get(), min(KEEPALIVE_SECONDS, max(ends - time.monotonic(), 0.01)))
        except TimeoutError:
            yield ": keep-alive\n\n"
            continue
        if user.grid_scope is not None and not await _in_grid(container, item.incident_id, user, grids):
            continue
        data = {"incident_id": item.incident_id, "kind": item.event.kind, "at": item.event.at.isoformat()}
        yield f"event: incident\ndata: {json.dumps(data)}\n\n"


async def _in_grid(container: ConsoleContainer, incident_id: str, user: User, cache: dict[str, int | None]) -> bool:
    if incident_id not in cache:
        _, cache[incident_id] = await run_in_threadpool(container.console_queries.incident_grid, incident_id)
    return user.sees_grid(cache[incident_id])

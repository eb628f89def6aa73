"""The live stream's inbox: events from many threads, taken in batches, oldest first, bounded."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import pytest

from callcenter.adapters.events import Published
from callcenter.api.live import _Inbox
from callcenter.domain.incident import IncidentEvent

AT = datetime(2026, 3, 14, 1, 30, tzinfo=UTC)


def published(incident: str, n: int) -> Published:
    return Published(incident, IncidentEvent(AT, f"kind{n}", "system"))


def test_events_from_many_threads_arrive_whole_and_in_each_threads_order() -> None:
    async def run() -> list[Published]:
        inbox = _Inbox(asyncio.get_running_loop())
        threads = [threading.Thread(target=lambda i=i: [inbox.put(published(f"inc{i}", n)) for n in range(200)])
                   for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
        taken: list[Published] = []
        while len(taken) < 800:
            taken += await inbox.take(5)
        return taken

    taken = asyncio.run(run())
    assert len(taken) == 800
    for i in range(4):
        assert [p.event.kind for p in taken if p.incident_id == f"inc{i}"] == [f"kind{n}" for n in range(200)]


def test_a_full_inbox_drops_the_newest_and_an_empty_one_times_out() -> None:
    async def run() -> tuple[list[Published], bool]:
        inbox = _Inbox(asyncio.get_running_loop(), limit=3)
        for n in range(5):
            inbox.put(published("inc", n))
        first = await inbox.take(1)
        try:
            await inbox.take(0.05)
        except TimeoutError:
            return first, True
        return first, False

    first, timed_out = asyncio.run(run())
    assert [p.event.kind for p in first] == ["kind0", "kind1", "kind2"] and timed_out


@pytest.mark.parametrize("batches", [1, 3])
def test_events_put_after_a_take_wake_the_next_take(batches: int) -> None:
    async def run() -> list[int]:
        inbox = _Inbox(asyncio.get_running_loop())
        sizes = []
        for b in range(batches):
            threading.Thread(target=inbox.put, args=(published("inc", b),)).start()
            sizes.append(len(await inbox.take(5)))
        return sizes

    assert asyncio.run(run()) == [1] * batches

"""Simulated phones report from one thread, in due order, however many legs are sent at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from callcenter.adapters.simulated import Later, SimulatedPhones
from callcenter.domain.messages import MessageFacts
from callcenter.domain.types import Channel, LegPurpose, LegStatus, Recipient
from callcenter.service.ports import LegOrder
from tests.waiting import wait_for


def test_calls_run_in_due_order_on_one_thread_which_ends_when_idle() -> None:
    later, ran, threads = Later(), [], set()

    def note(n: int) -> None:
        ran.append(n)
        threads.add(threading.get_ident())

    for n, delay in enumerate([0.3, 0.1, 0.2, 0.1, 0.0]):
        later.call(delay, lambda n=n: note(n))  # type: ignore[misc]
    wait_for(lambda: len(ran) == 5, 5, "every call")
    assert ran == [4, 1, 3, 2, 0]  # by due time; equal times in the order asked
    assert len(threads) == 1
    wait_for(lambda: not later.running, 5, "the idle thread to end")
    later.call(0, lambda: note(5))  # and it starts again
    wait_for(lambda: ran[-1:] == [5], 5, "a call after the thread ended")


class _Sink:
    def __init__(self) -> None:
        self.reports: list[tuple[str, LegStatus]] = []
        self.threads: set[int] = set()

    def leg_outcome(self, leg_id: str, status: LegStatus, detail: str = "", provider_ref: str = "") -> None:
        if leg_id.endswith("/0"):
            raise RuntimeError("a sink that refuses one report")
        self.reports.append((leg_id, status))
        self.threads.add(threading.get_ident())


def test_a_hundred_texts_are_delivered_from_one_thread_and_a_refused_report_stops_nothing() -> None:
    sink = _Sink()
    phones = SimulatedPhones(Channel.SMS, time_scale=0.05, sink=sink)
    facts = MessageFacts("张家", "一组1号", "0717-6123456", datetime(2026, 6, 1, tzinfo=UTC), "未分类", "")
    for n in range(100):
        phones.send(LegOrder(f"i/{n}", "i", Channel.SMS, LegPurpose.ALERT, 1,
                             Recipient("李四", f"+86138000{n:05d}", "neighbour"), "text", facts))
    wait_for(lambda: len(sink.reports) == 99, 5, "99 deliveries")
    assert {status for _, status in sink.reports} == {LegStatus.DELIVERED}
    assert len(sink.threads) == 1

"""Simulated phones for the demo and for process-level tests: every recipient behaves the same
way every time (chosen by a hash of its number), so a demo run and a crash test are repeatable.

Behaviours: acknowledge (press 1 after a few seconds), decline (press 2), busy, never answer
(rings until the ring timeout), answer without a key (voicemail). SMS are delivered after 1 s.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from callcenter.domain.types import Channel, LegStatus
from callcenter.service.ports import LegOrder, OutcomeSink

__all__ = ["Later", "SimulatedPhones", "behaviour_of"]

# (share in percent, final outcome, seconds until it is reported)
_BEHAVIOURS: tuple[tuple[int, LegStatus, float], ...] = (
    (55, LegStatus.ACKNOWLEDGED, 4.0),
    (10, LegStatus.DECLINED, 5.0),
    (15, LegStatus.BUSY, 1.0),
    (12, LegStatus.NO_ANSWER, 30.0),
    (8, LegStatus.ANSWERED_WITHOUT_KEY, 20.0),
)


def behaviour_of(phone: str, attempt: int) -> tuple[LegStatus, float]:
    """A stable behaviour per number; later attempts are likelier to be answered."""
    bucket = int(hashlib.sha256(f"{phone}/{min(attempt, 2)}".encode()).hexdigest(), 16) % 100
    for share, outcome, delay in _BEHAVIOURS:
        if bucket < share:
            return outcome, delay
        bucket -= share
    return LegStatus.ACKNOWLEDGED, 4.0


@dataclass
class SimulatedPhones:
    """An AlertChannel whose recipients answer by script; outcomes arrive later, from one thread."""

    channel: Channel
    name: str = "simulated"
    survives_restart: bool = False
    time_scale: float = 1.0  # 0.1 makes every delay ten times shorter
    sink: OutcomeSink | None = None
    on_send: Callable[[LegOrder], None] | None = None
    _clock: Later = field(default_factory=lambda: Later(), init=False, repr=False)

    def send(self, order: LegOrder) -> str:
        if self.on_send:
            self.on_send(order)
        steps = self._steps(order)
        for delay, status in steps:
            self._later(delay, order.leg_id, status)
        return f"sim-{order.leg_id[-24:]}"

    def _steps(self, order: LegOrder) -> list[tuple[float, LegStatus]]:
        if self.channel is Channel.SMS:
            return [(1.0, LegStatus.DELIVERED)]
        outcome, delay = behaviour_of(order.recipient.phone, order.attempt)
        steps = [(0.3, LegStatus.RINGING)]
        if outcome in (LegStatus.ACKNOWLEDGED, LegStatus.DECLINED, LegStatus.ANSWERED_WITHOUT_KEY):
            steps.append((delay - 1.0, LegStatus.ANSWERED))
        return [*steps, (delay, outcome)]

    def _later(self, delay: float, leg_id: str, status: LegStatus) -> None:
        self._clock.call(delay * self.time_scale, lambda: self._report(leg_id, status))

    def _report(self, leg_id: str, status: LegStatus) -> None:
        if self.sink is not None:
            try:
                self.sink.leg_outcome(leg_id, status, "simulated")
            except Exception:  # a report on a closed incident is nothing to crash a timer thread for
                return


class Later:
    """Calls made after a delay, in due order, from one thread (not a timer thread per call: a flood
    sends thousands of legs, each with up to three reports). The thread ends when nothing is due
    for a second, and starts again with the next call."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()  # equal times keep the order they were asked in
        self._changed = threading.Condition()
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    def call(self, delay: float, action: Callable[[], None]) -> None:
        with self._changed:
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), action))
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="simulated-phones", daemon=True).start()
            self._changed.notify()

    def _run(self) -> None:
        while (action := self._next()) is not None:
            action()

    def _next(self) -> Callable[[], None] | None:
        with self._changed:
            while True:
                if not self._due:
                    self._changed.wait(1.0)
                    if not self._due:
                        self._running = False
                        return None
                    continue
                left = self._due[0][0] - time.monotonic()
                if left <= 0:
                    return heapq.heappop(self._due)[2]
                self._changed.wait(left)

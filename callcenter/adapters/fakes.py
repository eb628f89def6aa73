"""Fakes of the engine's ports, for tests and benchmarks only (the real clock is in ``clock.py``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from callcenter.service.ports import LegOrder, Timer

__all__ = ["FakeChannel", "FakeTimers", "SteppingClock"]


class SteppingClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 6, 1, 8, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now


class FakeTimers:
    """Keeps scheduled timers; ``due(now)`` pops those whose time has come."""

    def __init__(self) -> None:
        self.jobs: dict[str, Timer] = {}

    def schedule(self, timer: Timer) -> None:
        self.jobs[timer.job_id] = timer

    def cancel(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)

    def due(self, now: datetime) -> list[Timer]:
        ready = sorted((t for t in self.jobs.values() if t.at <= now), key=lambda t: t.at)
        for timer in ready:
            del self.jobs[timer.job_id]
        return ready


@dataclass
class FakeChannel:
    """Records every order; raises for numbers listed in ``refuse``."""

    name: str
    survives_restart: bool = False
    orders: list[LegOrder] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, order: LegOrder) -> str:
        if order.recipient.phone in self.refuse:
            raise ConnectionError(f"{self.name} refused {order.recipient.phone}")
        with self._lock:
            self.orders.append(order)
        return f"{self.name}-{len(self.orders)}"

    def sent_to(self) -> list[str]:
        with self._lock:
            return [o.recipient.phone for o in self.orders]

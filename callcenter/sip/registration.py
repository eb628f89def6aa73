"""Registration state and back-off: pure values, time passed in."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0


def backoff_delay(failures: int, first: float = BACKOFF_FIRST, cap: float = BACKOFF_MAX) -> float:
    """Seconds to wait after ``failures`` consecutive failed REGISTERs: doubling, capped, never giving up."""
    if failures <= 0:
        return 0.0
    return float(min(cap, first * 2 ** min(failures - 1, 30)))


@dataclass(frozen=True, slots=True)
class RegistrationStatus:
    """What the health check shows about our binding at the registrar."""

    registered: bool = False
    retrying_since: datetime | None = None  # first failure of the current run of failures
    last_error: str = ""
    failures: int = 0  # consecutive
    registered_at: datetime | None = None

    def succeeded(self, now: datetime) -> RegistrationStatus:
        return RegistrationStatus(registered=True, registered_at=now, last_error=self.last_error)

    def failed(self, now: datetime, error: str) -> RegistrationStatus:
        return replace(
            self, registered=False, retrying_since=self.retrying_since or now, last_error=error,
            failures=self.failures + 1,
        )


class RegistrationTracker:
    """The current status, shared between the registration thread and readers (health, tests)."""

    def __init__(self) -> None:
        self._status = RegistrationStatus()
        self._changed = threading.Condition()

    @property
    def status(self) -> RegistrationStatus:
        return self._status

    def set(self, status: RegistrationStatus) -> None:
        with self._changed:
            self._status = status
            self._changed.notify_all()

    def wait_registered(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._status.registered, timeout)

    def wait_failures(self, count: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._status.failures >= count, timeout)

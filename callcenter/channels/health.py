"""Whether a failover path takes new legs: one record for every provider (Twilio, Aliyun, Tencent, ...).

A path is down for ``recheck_seconds`` after a send gave up on it, or after ``throttles_before_down``
throttled answers within that window (a provider that keeps saying "too many" is as good as down for
the alerts that must go now); then new legs try it again. Sends run on many threads, so every
reading and change holds one lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["PathHealth"]


@dataclass
class PathHealth:
    recheck_seconds: float
    clock: Callable[[], float] = time.monotonic
    throttles_before_down: int | None = None  # None: throttling alone never marks the path down
    down_since: float | None = None
    reason: str = ""
    _throttles: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def is_healthy(self) -> bool:
        with self._lock:
            return self.down_since is None or self.clock() - self.down_since >= self.recheck_seconds

    def failed(self, reason: str) -> None:
        with self._lock:
            self.down_since, self.reason = self.clock(), reason

    def throttled(self, reason: str) -> None:
        if self.throttles_before_down is None:
            return
        now = self.clock()
        with self._lock:
            self._throttles = [t for t in self._throttles if now - t < self.recheck_seconds] + [now]
            if len(self._throttles) >= self.throttles_before_down:
                self.down_since, self.reason = now, f"throttled {len(self._throttles)} times: {reason}"

    def succeeded(self) -> None:
        with self._lock:
            self.down_since, self.reason = None, ""

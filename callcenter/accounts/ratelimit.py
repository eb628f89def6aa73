"""Login rate limiting per account and per client address: a sliding window of failures.

Pure and in memory (time is a parameter). Failures are counted per key; a key with ``max_failures``
failures inside ``window`` is refused until the oldest one leaves the window. A success clears the
account's failures, never the address's (an attacker with one valid account must not reset them).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class LoginRateLimiter:
    max_per_account: int = 5
    max_per_address: int = 20
    window: timedelta = timedelta(minutes=15)
    _failures: dict[str, deque[datetime]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, account: str, address: str, now: datetime) -> timedelta | None:
        """How long the next attempt must wait, or None when it may go ahead."""
        with self._lock:
            waits = [self._wait(f"a:{account.lower()}", self.max_per_account, now),
                     self._wait(f"ip:{address}", self.max_per_address, now)]
        blocked = [w for w in waits if w is not None]
        return max(blocked) if blocked else None

    def failed(self, account: str, address: str, now: datetime) -> None:
        with self._lock:
            for key in (f"a:{account.lower()}", f"ip:{address}"):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, account: str) -> None:
        with self._lock:
            self._failures.pop(f"a:{account.lower()}", None)

    def _wait(self, key: str, limit: int, now: datetime) -> timedelta | None:
        times = self._failures.get(key)
        if not times:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) < limit:
            return None
        return times[len(times) - limit] + self.window - now

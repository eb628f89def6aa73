"""Sign-in limits that slow a guesser without locking anybody out.

Pure and in memory (time is a parameter). Two rules:

- per (account, client address): after ``free_failures`` failures, each further try waits 1 s,
  2 s, 4 s, … up to ``max_delay`` after the last failure. A success from that address clears it.
  The account itself is never locked: failures from one address do not slow the same account
  signing in from another, so an attacker cannot keep the duty operator out.
- per client address: ``max_per_address`` failures (any accounts) inside ``window`` make that
  address wait until the oldest leaves the window (password spraying). A success never clears it
  (an attacker with one valid account must not reset it).

Client addresses come from ``callcenter.api.client_address`` (X-Forwarded-For only from trusted
proxies), so a forged header neither dodges these limits nor pins them on somebody else.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["LoginRateLimiter"]

_PRUNE_ABOVE = 100_000  # pairs kept before stale ones are dropped: memory stays bounded under a spray


@dataclass
class _Pair:
    failures: int
    last: datetime


@dataclass
class LoginRateLimiter:
    free_failures: int = 3
    max_delay: timedelta = timedelta(seconds=60)
    max_per_address: int = 20
    window: timedelta = timedelta(minutes=15)
    _pairs: dict[tuple[str, str], _Pair] = field(default_factory=dict)
    _addresses: dict[str, deque[datetime]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, account: str, address: str, now: datetime) -> timedelta | None:
        """How long the next attempt must wait, or None when it may go ahead."""
        with self._lock:
            waits = [self._pair_wait((account.lower(), address), now), self._address_wait(address, now)]
        blocked = [w for w in waits if w is not None and w > timedelta(0)]
        return max(blocked) if blocked else None

    def failed(self, account: str, address: str, now: datetime) -> None:
        with self._lock:
            pair = self._pairs.get((account.lower(), address))
            if pair is None or now - pair.last > self.window:
                pair = self._pairs[(account.lower(), address)] = _Pair(0, now)
            pair.failures, pair.last = pair.failures + 1, now
            self._addresses.setdefault(address, deque()).append(now)
            if len(self._pairs) > _PRUNE_ABOVE:
                self._prune(now)

    def succeeded(self, account: str, address: str) -> None:
        with self._lock:
            self._pairs.pop((account.lower(), address), None)

    def delay(self, failures: int) -> timedelta:
        """The wait after the ``failures``-th failure of a pair: none, then doubling to the cap."""
        if failures < self.free_failures:
            return timedelta(0)
        return min(timedelta(seconds=2 ** min(failures - self.free_failures, 30)), self.max_delay)

    def _pair_wait(self, key: tuple[str, str], now: datetime) -> timedelta | None:
        pair = self._pairs.get(key)
        if pair is None or now - pair.last > self.window:
            return None
        return pair.last + self.delay(pair.failures) - now

    def _address_wait(self, address: str, now: datetime) -> timedelta | None:
        times = self._addresses.get(address)
        if not times:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) < self.max_per_address:
            return None
        return times[len(times) - self.max_per_address] + self.window - now

    def _prune(self, now: datetime) -> None:
        for key in [k for k, p in self._pairs.items() if now - p.last > self.window]:
            del self._pairs[key]
        for address in [a for a, t in self._addresses.items() if not t or t[-1] <= now - self.window]:
            del self._addresses[address]

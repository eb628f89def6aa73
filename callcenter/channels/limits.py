"""Per-number and per-account sending limits of an SMS provider, applied before we submit.

Providers throttle on their side (Aliyun: at most 50 notifications a day from one signature and
template to one number; every provider has a per-account rate), and a message they throttle is a
message lost for this provider. Counting on our side first turns that into a ``RateLimited`` raised
before the request, so the failover channel sends it through the next provider at once instead of
after a refused round trip — and a provider never sees us exceed what our contract with it allows.

Sliding windows, in process memory (each instance counts its own sends: set limits per instance when
several share an account). Thread-safe; time is a parameter (monotonic seconds).
"""

from __future__ import annotations

import threading
from bisect import bisect_right, insort
from collections.abc import Sequence
from dataclasses import dataclass, field

from callcenter.channels.errors import RateLimited

__all__ = ["ALIYUN_NOTIFICATION_LIMITS", "SendLimits", "Window"]


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``count`` messages in any ``seconds``."""

    count: int
    seconds: float

    def __post_init__(self) -> None:
        if self.count < 1 or self.seconds <= 0:
            raise ValueError(f"a sending limit needs a count ≥ 1 and a positive time, not {self}")

    def __str__(self) -> str:
        return f"{self.count} per {self.seconds:g} s"


@dataclass
class _Counter:
    windows: Sequence[Window]
    sent: list[float] = field(default_factory=list)  # ascending send times

    def full(self, now: float) -> Window | None:
        longest = max((w.seconds for w in self.windows), default=0.0)
        expired = bisect_right(self.sent, now - longest)
        if expired > len(self.sent) // 2:  # trim in bulk: amortised O(1) per message
            del self.sent[:expired]
        for window in self.windows:
            if len(self.sent) - bisect_right(self.sent, now - window.seconds) >= window.count:
                return window
        return None


class SendLimits:
    """``take(number, now)`` counts one message to ``number``, or raises RateLimited naming the limit."""

    def __init__(self, provider: str, per_number: Sequence[Window] = (), per_account: Sequence[Window] = ()) -> None:
        self.provider = provider
        self._per_number = tuple(per_number)
        self._account = _Counter(tuple(per_account))
        self._numbers: dict[str, _Counter] = {}
        self._lock = threading.Lock()

    def take(self, number: str, now: float) -> None:
        with self._lock:
            full = self._account.full(now)
            if full is not None:
                raise RateLimited(f"{self.provider}: account limit of {full} reached")
            counter = self._numbers.get(number)
            if counter is None:
                counter = self._numbers[number] = _Counter(self._per_number)
            full = counter.full(now)
            if full is not None:
                raise RateLimited(f"{self.provider}: limit of {full} to one number reached")
            insort(counter.sent, now)  # sends taken out of order by threads still count in order
            insort(self._account.sent, now)
            self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        """Numbers with nothing left in their windows take no memory (a mass event texts thousands)."""
        if len(self._numbers) < 4096:
            return
        longest = max((w.seconds for w in self._per_number), default=0.0)
        for number in [n for n, c in self._numbers.items() if not c.sent or c.sent[-1] <= now - longest]:
            del self._numbers[number]


# Aliyun's default for notifications: 50 a day from one signature and template to one number.
ALIYUN_NOTIFICATION_LIMITS = (Window(50, 86400.0),)

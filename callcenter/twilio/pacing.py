"""Send-rate limits: per sender number and per account, served by priority.

Twilio takes about one call per second per account and one SMS per second per number unless
the account was raised. Each send waits here for a slot: the waiting leg with the smallest priority
goes first (the channels give FairRanks: every incident's first leg before any incident's second,
callcenter/service/dial_queue.py), on the sender number that is free soonest.

Twilio counts requests when they arrive, and a request can spend a while on the way (a new
connection, a slow network), so spacing the departures is not enough: two requests sent a second
apart may arrive together. For a rate r (N = max(1, ⌊r⌋) sends per window W = N/r) a slot opens
only when the send N places back has *completed* at least W ago; completed requests have surely
arrived, so no window of W at the provider ever sees more than N. Departures are also spaced
1/r apart so a queue drains evenly.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PacerClosed", "Rates", "SendPacer", "retry_delay"]


class PacerClosed(Exception):
    """The pacer released its waiters (the path failed over); the send did not happen."""


@dataclass(frozen=True, slots=True)
class Rates:
    per_number: float  # sends per second from one sender number
    per_account: float  # sends per second over all numbers of the account

    def __post_init__(self) -> None:
        if self.per_number <= 0 or self.per_account <= 0:
            raise ValueError("send rates must be positive")


@dataclass(order=True)
class _Ticket:
    priority: tuple[Any, ...]
    seq: int
    not_before: float = field(compare=False)


@dataclass(eq=False)  # each send is itself: two that left at the same instant are still two
class _Send:
    left_at: float
    done_at: float | None = None


class _Limit:
    """One rate: the last N sends, to know when the next may leave."""

    def __init__(self, rate: float) -> None:
        self.gap = 1.0 / rate
        self.count = max(1, math.floor(rate))
        self.window = self.count / rate
        self.recent: deque[_Send] = deque(maxlen=self.count)

    def ready_at(self) -> float:
        if not self.recent:
            return 0.0
        spaced = self.recent[-1].left_at + self.gap
        if len(self.recent) < self.count:
            return spaced
        oldest = self.recent[0].done_at
        return math.inf if oldest is None else max(spaced, oldest + self.window)


class Slot:
    """A granted send: use ``sender``, then call ``done()`` once the request has completed."""

    def __init__(self, pacer: SendPacer, sender: str, sends: tuple[_Send, ...]) -> None:
        self.sender, self._pacer, self._sends = sender, pacer, sends

    def done(self) -> None:
        self._pacer._completed(self._sends)

    def unused(self) -> None:
        """Nothing was sent (the leg was stood down meanwhile): the slot goes to the next waiting send."""
        self._pacer._given_back(self.sender, self._sends)


class SendPacer:
    """Grants send slots to waiting threads, most urgent first, within the rates."""

    def __init__(self, senders: Sequence[str], rates: Rates, clock: Callable[[], float] = time.monotonic) -> None:
        if not senders:
            raise ValueError("at least one sender number is needed")
        self.rates, self._clock = rates, clock
        self._numbers = {s: _Limit(rates.per_number) for s in senders}
        self._account = _Limit(rates.per_account)
        self._waiting: list[_Ticket] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._generation = 0  # bumped by release_waiting: tickets of older generations give up
        self._closed = False

    def acquire(self, priority: tuple[Any, ...], not_before: float = 0.0) -> Slot:
        """Block until this send may go; the slot names the sender number to use."""
        ticket = _Ticket(priority, next(self._seq), not_before)
        with self._cond:
            if self._closed:
                raise PacerClosed("closed: the service is stopping")
            generation = self._generation
            self._waiting.append(ticket)
            try:
                return self._wait_for_turn(ticket, generation)
            finally:
                self._waiting.remove(ticket)
                self._cond.notify_all()

    def release_waiting(self) -> int:
        """Make every waiting send give up with PacerClosed; returns how many were waiting."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()
            return len(self._waiting)

    def close(self) -> int:
        """The service is stopping: waiting and later sends give up with PacerClosed, so nothing is
        sent after the lease is given back (the next leader replaces those legs). Returns how many waited."""
        with self._cond:
            self._closed = True
            return self.release_waiting()

    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def _wait_for_turn(self, ticket: _Ticket, generation: int) -> Slot:
        while True:
            if generation != self._generation:
                raise PacerClosed("closed: the service is stopping" if self._closed
                                  else "released: the path is failing over")
            now = self._clock()
            sender, ready_at = self._slot(ticket, now)
            if sender is not None and ready_at <= now:
                return self._spend(sender, now)
            self._cond.wait(timeout=max(0.001, min(ready_at - now, 1.0)))

    def _slot(self, ticket: _Ticket, now: float) -> tuple[str | None, float]:
        if ticket.not_before > now:
            return None, ticket.not_before
        if min(t for t in self._waiting if t.not_before <= now) is not ticket:
            return None, now + 1.0  # woken when the ticket ahead of us leaves
        sender = min(self._numbers, key=lambda s: self._numbers[s].ready_at())
        return sender, max(self._numbers[sender].ready_at(), self._account.ready_at())

    def _spend(self, sender: str, now: float) -> Slot:
        sends = (_Send(now), _Send(now))
        self._numbers[sender].recent.append(sends[0])
        self._account.recent.append(sends[1])
        return Slot(self, sender, sends)

    def _given_back(self, sender: str, sends: tuple[_Send, ...]) -> None:
        with self._cond:
            for limit, send in zip((self._numbers[sender], self._account), sends, strict=True):
                # The send it pushed out had left its window when the slot was granted: none to restore.
                if send in limit.recent:
                    limit.recent.remove(send)
            self._cond.notify_all()

    def _completed(self, sends: tuple[_Send, ...]) -> None:
        with self._cond:
            for send in sends:
                send.done_at = self._clock()
            self._cond.notify_all()


def retry_delay(attempt: int, first: float, cap: float = 8.0) -> float:
    """Exponential back-off: first, 2×first, 4×first, … never more than ``cap`` seconds."""
    return float(min(cap, first * (2 ** max(0, attempt - 1))))

"""Send-rate limits: per sender number and per account, served by priority.

Twilio takes about one call per second per account and one SMS per second per number unless
the account was raised. Each send waits here for a slot: the most urgent waiting leg (highest
escalation level, then the oldest press) goes first, on the sender number that is free soonest.
A slot is spent when the request leaves; slots are spaced a little wider than the limit so
network jitter does not put two requests into one second at the provider.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

SPACING_MARGIN = 1.05  # slots 5 % wider than 1/rate: jitter on the way must not break the limit


class PacerClosed(Exception):
    """The pacer stopped or released its waiters (the path failed over); the send did not happen."""


@dataclass(frozen=True, slots=True)
class Rates:
    per_number: float  # sends per second from one sender number
    per_account: float  # sends per second over all numbers of the account

    def __post_init__(self) -> None:
        if self.per_number <= 0 or self.per_account <= 0:
            raise ValueError("send rates must be positive")


@dataclass(order=True)
class _Ticket:
    priority: tuple[int, datetime]
    seq: int
    not_before: float = field(compare=False)


class SendPacer:
    """Grants send slots to waiting threads, most urgent first, within the rates."""

    def __init__(self, senders: Sequence[str], rates: Rates, clock: Callable[[], float] = time.monotonic) -> None:
        if not senders:
            raise ValueError("at least one sender number is needed")
        self.rates, self._clock = rates, clock
        self._number_gap = SPACING_MARGIN / rates.per_number
        self._account_gap = SPACING_MARGIN / rates.per_account
        self._next_free = dict.fromkeys(senders, 0.0)
        self._account_next = 0.0
        self._waiting: list[_Ticket] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._generation = 0  # bumped by release_waiting: tickets of older generations give up

    def acquire(self, priority: tuple[int, datetime], not_before: float = 0.0,
                deadline: float | None = None) -> str:
        """Block until this send may go; returns the sender number to use."""
        ticket = _Ticket(priority, next(self._seq), not_before)
        with self._cond:
            generation = self._generation
            self._waiting.append(ticket)
            try:
                return self._wait_for_turn(ticket, generation, deadline)
            finally:
                self._waiting.remove(ticket)
                self._cond.notify_all()

    def release_waiting(self) -> int:
        """Make every waiting send give up with PacerClosed; returns how many were waiting."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()
            return len(self._waiting)

    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def _wait_for_turn(self, ticket: _Ticket, generation: int, deadline: float | None) -> str:
        while True:
            if generation != self._generation:
                raise PacerClosed("released: the path is failing over")
            now = self._clock()
            if deadline is not None and now >= deadline:
                raise PacerClosed("no send slot before the deadline")
            sender, ready_at = self._slot(ticket, now)
            if sender is not None and ready_at <= now:
                self._spend(sender, now)
                return sender
            self._cond.wait(timeout=_bounded(ready_at - now, deadline, now))

    def _slot(self, ticket: _Ticket, now: float) -> tuple[str | None, float]:
        eligible = [t for t in self._waiting if t.not_before <= now]
        if ticket.not_before > now:
            return None, ticket.not_before
        if min(eligible) is not ticket:
            return None, now + 1.0  # woken when the ticket ahead of us leaves
        sender = min(self._next_free, key=self._next_free.__getitem__)
        return sender, max(self._next_free[sender], self._account_next)

    def _spend(self, sender: str, now: float) -> None:
        self._next_free[sender] = now + self._number_gap
        self._account_next = now + self._account_gap


def _bounded(wait: float, deadline: float | None, now: float) -> float:
    if deadline is not None:
        wait = min(wait, deadline - now)
    return max(0.001, min(wait, 1.0))


def retry_delay(attempt: int, first: float, cap: float = 8.0) -> float:
    """Exponential back-off: first, 2×first, 4×first, … never more than ``cap`` seconds."""
    return float(min(cap, first * (2 ** max(0, attempt - 1))))

"""Turns at writing: key presses first, then the recovery of a crashed instance's work, then the rest.

In a flood, hundreds of alert legs report outcomes (dialling, ringing, answered, delivered) while
households keep pressing. Every report is a write and so is a key press. On SQLite all writers
take turns on one lock that favours no one (a waiting writer polls and sleeps, up to 100 ms a
time), and each waiting writer holds a pooled connection, so even the press's directory lookup
waited for one: presses reached the operators' screen seconds late behind leg bookkeeping.

Here the engine's writes take turns in the process instead, holding no connection while they
wait: at most ``slots`` units of work at once (the composition root gives SQLite 1, PostgreSQL 8).
A waiting key press goes before everything else. Next comes recovery: after a takeover it closes
the legs a dead instance left in flight and re-places them, one write per incident. Behind a queue
of the calls' own reports, it placed nothing for the last of 123 inherited incidents until 77 s
after start (the SIP crash benchmark). Everything else waits its turn. A write in progress is never
interrupted, so a press waits at most for the writes already under way.

A finished write hands its slot straight to the next waiter (highest tier, then oldest first),
waking that one thread: with hundreds of writers waiting in a flood, waking them all on every
release to re-check a condition cost more CPU than the writes themselves.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum

__all__ = ["Turn", "WriteTurns"]


class Turn(IntEnum):
    """Tiers of waiting writers, served in this order."""

    PRESS = 0
    RECOVERY = 1
    COMMAND = 2


class WriteTurns:
    def __init__(self, slots: int = 8) -> None:
        if slots < 1:
            raise ValueError("write slots must be at least 1")
        self.slots = slots
        self._lock = threading.Lock()
        self._writing = 0
        # Waiters only exist while every slot is taken: a release passes its slot on directly.
        self._waiting: tuple[deque[threading.Event], ...] = tuple(deque() for _ in Turn)

    @property
    def writing(self) -> int:
        return self._writing

    def waiting(self, tier: Turn) -> int:
        return len(self._waiting[tier])

    @contextmanager
    def turn(self, tier: Turn = Turn.COMMAND) -> Iterator[None]:
        """Held around one unit of work of ``tier``."""
        granted = self._enter(tier)
        if granted is not None:
            granted.wait()  # set by a release that passed its slot to this thread
        try:
            yield
        finally:
            self._release()

    def _enter(self, tier: Turn) -> threading.Event | None:
        with self._lock:
            if self._writing < self.slots:
                self._writing += 1
                return None
            granted = threading.Event()
            self._waiting[tier].append(granted)
            return granted

    def _release(self) -> None:
        with self._lock:
            waiting = next((queue for queue in self._waiting if queue), None)
            if waiting is not None:
                waiting.popleft().set()  # the slot stays taken, now by the woken writer
            else:
                self._writing -= 1

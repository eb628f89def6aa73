"""Turns at writing, key presses first.

In a flood, hundreds of alert legs report outcomes (dialling, ringing, answered, delivered) while
households keep pressing. Every report is a write and so is a key press. On SQLite all writers
take turns on one lock that favours no one (a waiting writer polls and sleeps, up to 100 ms a
time), and each waiting writer holds a pooled connection, so even the press's directory lookup
waited for one: presses reached the operators' screen seconds late behind leg bookkeeping.

Here the engine's writes take turns in the process instead, holding no connection while they
wait: at most ``slots`` units of work at once (the composition root gives SQLite 4, PostgreSQL 8),
and a key press waiting for a turn goes before every waiting command. A write in progress is never
interrupted, so a press waits at most for the writes already under way.

A finished write hands its slot straight to the next waiter (presses, then commands, each oldest
first), waking that one thread: with hundreds of writers waiting in a flood, waking them all on
every release to re-check a condition cost more CPU than the writes themselves.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager


class WriteTurns:
    def __init__(self, slots: int = 8) -> None:
        if slots < 1:
            raise ValueError("write slots must be at least 1")
        self.slots = slots
        self._lock = threading.Lock()
        self._writing = 0
        # Waiters only exist while every slot is taken: a release passes its slot on directly.
        self._presses: deque[threading.Event] = deque()
        self._commands: deque[threading.Event] = deque()

    @property
    def writing(self) -> int:
        return self._writing

    @contextmanager
    def turn(self, press: bool = False) -> Iterator[None]:
        """Held around one unit of work; ``press`` for a key press (served before waiting commands)."""
        granted = self._enter(press)
        if granted is not None:
            granted.wait()  # set by a release that passed its slot to this thread
        try:
            yield
        finally:
            self._release()

    def _enter(self, press: bool) -> threading.Event | None:
        with self._lock:
            if self._writing < self.slots:
                self._writing += 1
                return None
            granted = threading.Event()
            (self._presses if press else self._commands).append(granted)
            return granted

    def _release(self) -> None:
        with self._lock:
            waiting = self._presses or self._commands
            if waiting:
                waiting.popleft().set()  # the slot stays taken, now by the woken writer
            else:
                self._writing -= 1

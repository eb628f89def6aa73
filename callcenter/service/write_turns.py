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
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class WriteTurns:
    def __init__(self, slots: int = 8) -> None:
        if slots < 1:
            raise ValueError("write slots must be at least 1")
        self.slots = slots
        self._changed = threading.Condition()
        self._writing = 0
        self._presses_waiting = 0

    @property
    def writing(self) -> int:
        return self._writing

    @contextmanager
    def turn(self, press: bool = False) -> Iterator[None]:
        """Held around one unit of work; ``press`` for a key press (served before waiting commands)."""
        with self._changed:
            self._presses_waiting += press
            try:
                self._changed.wait_for(lambda: self._writing < self.slots and (press or not self._presses_waiting))
            finally:
                self._presses_waiting -= press
            self._writing += 1
        try:
            yield
        finally:
            with self._changed:
                self._writing -= 1
                self._changed.notify_all()

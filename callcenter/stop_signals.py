"""Stop signals during start-up: acted on at once, and remembered.

A signal handler's exception is raised wherever the main thread happens to be. When that is a
finalizer run by a garbage collection (start-up ends with one: callcenter/heap.py), Python prints
"Exception ignored" and carries on, and the stop is lost: the service would then run until killed.
So the handler also notes the signal, and ``raise_if_received`` acts on it at the next safe point.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable

__all__ = ["StopSignals"]


class StopSignals:
    def __init__(self, exception: Callable[[int], BaseException]) -> None:
        self._exception = exception
        self.received: int | None = None

    def install(self, signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT)) -> StopSignals:
        for sig in signals:
            signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        if self.received is None:
            self.received = signum
        raise self._exception(signum)

    def raise_if_received(self) -> None:
        """Raise the stop now if a signal came whose exception may have been swallowed."""
        if self.received is not None:
            raise self._exception(self.received)

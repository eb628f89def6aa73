"""The directory as a key press needs it: the database first, its local snapshot when it is away."""

from __future__ import annotations

import logging
import time
from typing import Protocol

from contacts.model import CallerLookup
from contacts.phones import mask_phone

__all__ = ["FallbackDirectory"]

log = logging.getLogger(__name__)


class DirectoryBook(Protocol):
    """What presses and the toll-fraud guard ask of the directory."""

    def household_by_caller(self, number: str) -> CallerLookup | None: ...

    def is_known_number(self, number: str) -> bool: ...


class FallbackDirectory:
    """Answers from ``primary``; when it fails (database unreachable), from ``snapshot``.

    A failed lookup used to make the press an "unknown caller"; with the snapshot the household and
    its joint-defense group are still found, so the neighbours are alerted as usual.
    """

    def __init__(self, primary: DirectoryBook, snapshot: DirectoryBook, retry_seconds: float = 5.0) -> None:
        self.primary, self.snapshot = primary, snapshot
        self.snapshot_answers = 0  # lookups answered from the snapshot since start
        self.retry_seconds = retry_seconds
        self._failing = False
        self._skip_until = 0.0  # monotonic time before which the primary is not asked again

    def household_by_caller(self, number: str) -> CallerLookup | None:
        if self._skipping():
            self.snapshot_answers += 1
            return self.snapshot.household_by_caller(number)
        try:
            found = self.primary.household_by_caller(number)
        except Exception as exc:
            self._failed(exc, f"{mask_phone(number)} looked up")
            self.snapshot_answers += 1
            return self.snapshot.household_by_caller(number)
        self._failing = False
        return found

    def is_known_number(self, number: str) -> bool:
        if self._skipping():
            return self.snapshot.is_known_number(number)
        try:
            known = self.primary.is_known_number(number)
        except Exception as exc:
            self._failed(exc, f"toll-fraud check of {mask_phone(number)}")
            return self.snapshot.is_known_number(number)
        self._failing = False
        return known

    def _skipping(self) -> bool:
        """After a failure the snapshot answers alone for ``retry_seconds``: a fan-out of thirty legs
        checks thirty numbers, and each failed connection attempt would delay its leg."""
        return time.monotonic() < self._skip_until

    def _failed(self, exc: Exception, what: str) -> None:
        """A warning when the directory starts failing; while it goes on failing, debug lines only."""
        level = logging.DEBUG if self._failing else logging.WARNING
        self._failing = True
        self._skip_until = time.monotonic() + self.retry_seconds
        log.log(level, "directory unreachable (%s): %s in the snapshot", type(exc).__name__, what)

"""The directory as a key press needs it: the database first, its local snapshot when it is away."""

from __future__ import annotations

import logging
from typing import Protocol

from contacts.model import CallerLookup
from contacts.phones import mask_phone

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

    def __init__(self, primary: DirectoryBook, snapshot: DirectoryBook) -> None:
        self.primary, self.snapshot = primary, snapshot
        self.snapshot_answers = 0  # lookups answered from the snapshot since start

    def household_by_caller(self, number: str) -> CallerLookup | None:
        try:
            return self.primary.household_by_caller(number)
        except Exception as exc:
            log.warning("directory unreachable (%s): %s looked up in the snapshot", type(exc).__name__,
                        mask_phone(number))
            self.snapshot_answers += 1
            return self.snapshot.household_by_caller(number)

    def is_known_number(self, number: str) -> bool:
        try:
            return self.primary.is_known_number(number)
        except Exception as exc:
            log.warning("directory unreachable (%s): toll-fraud check of %s in the snapshot", type(exc).__name__,
                        mask_phone(number))
            return self.snapshot.is_known_number(number)

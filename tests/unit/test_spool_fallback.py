"""Degraded mode's pure parts: the directory falling back to its snapshot, and what counts as an outage."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

import pytest
from factories import build_group
from sqlalchemy.exc import IntegrityError, OperationalError

from callcenter.db.snapshot import database_unavailable
from callcenter.service.snapshot import FallbackDirectory
from contacts.model import CallerLookup


@dataclass
class Book:
    lookups: dict[str, CallerLookup] = field(default_factory=dict)
    down: bool = False
    asked: int = 0

    def household_by_caller(self, number: str) -> CallerLookup | None:
        self.asked += 1
        if self.down:
            raise ConnectionRefusedError("connection refused")
        return self.lookups.get(number)

    def is_known_number(self, number: str) -> bool:
        self.asked += 1
        if self.down:
            raise ConnectionRefusedError("connection refused")
        return number in self.lookups


def books() -> tuple[Book, Book, str, CallerLookup]:
    group = build_group()
    number, lookup = group.line(0), group.lookup(0)
    return Book({number: lookup}), Book({number: lookup}), number, lookup


def test_the_database_answers_while_it_can() -> None:
    primary, snapshot, number, lookup = books()
    directory = FallbackDirectory(primary, snapshot)
    assert directory.household_by_caller(number) == lookup
    assert directory.is_known_number(number)
    assert snapshot.asked == 0 and directory.snapshot_answers == 0


def test_the_snapshot_answers_when_the_database_cannot() -> None:
    primary, snapshot, number, lookup = books()
    primary.down = True
    directory = FallbackDirectory(primary, snapshot)
    assert directory.household_by_caller(number) == lookup  # a neighbour group, not an unknown caller
    assert directory.is_known_number(number) and not directory.is_known_number("+8613900000000")
    assert directory.snapshot_answers == 1


@pytest.mark.parametrize(("error", "outage"), [
    (OperationalError("SELECT 1", {}, Exception("connection refused")), True),
    (OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked")), True),
    (OperationalError("INSERT", {}, sqlite3.OperationalError("attempt to write a readonly database")), True),
    (OperationalError("SELECT", {}, sqlite3.OperationalError('near "SELCT": syntax error')), False),
    (IntegrityError("INSERT", {}, Exception("duplicate key")), False),
    (ConnectionRefusedError("refused"), True),
    (ValueError("a bug"), False),
])
def test_only_an_unreachable_or_unwritable_database_counts_as_an_outage(error: BaseException, outage: bool) -> None:
    assert database_unavailable(error) is outage


def test_after_a_failure_the_snapshot_answers_alone_for_a_while() -> None:
    primary, snapshot, number, lookup = books()
    primary.down = True
    directory = FallbackDirectory(primary, snapshot, retry_seconds=60)
    assert directory.household_by_caller(number) == lookup
    asked = primary.asked
    assert directory.is_known_number(number) and directory.household_by_caller(number) == lookup
    assert primary.asked == asked  # no connection attempt per leg while the database is known to be away


def test_the_database_is_asked_again_once_the_wait_is_over() -> None:
    primary, snapshot, number, lookup = books()
    primary.down = True
    directory = FallbackDirectory(primary, snapshot, retry_seconds=0)
    directory.household_by_caller(number)
    primary.down = False
    snapshot.lookups.clear()
    assert directory.household_by_caller(number) == lookup and directory.snapshot_answers == 1

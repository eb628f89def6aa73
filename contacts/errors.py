"""Errors of the directory package.

DirectoryError
 ├── InvalidPhoneNumber   a number that is not a usable mainland number or allowed extension
 └── RosterError          a roster file that cannot be imported; carries every problem found
"""

from __future__ import annotations

from dataclasses import dataclass


class DirectoryError(Exception):
    """Base of every error raised by the directory."""


class InvalidPhoneNumber(DirectoryError, ValueError):
    def __init__(self, raw: str, reason: str, field: str | None = None) -> None:
        self.raw = raw
        self.reason = reason
        self.field = field
        where = f"{field}: " if field else ""
        super().__init__(f"{where}invalid phone number {raw!r}: {reason}")


@dataclass(frozen=True, slots=True)
class RosterProblem:
    """One problem in one cell (or row) of a roster file."""

    row: int
    column: str
    reason: str
    sheet: str | None = None

    def __str__(self) -> str:
        where = f"sheet {self.sheet}, " if self.sheet else ""
        return f"{where}row {self.row}, column {self.column}: {self.reason}"


class RosterError(DirectoryError):
    def __init__(self, problems: list[RosterProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

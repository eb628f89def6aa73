"""A roster file as read: sections of text rows that still know where they were in the file."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from contacts.errors import RosterProblem


class SectionKind(StrEnum):
    HOUSEHOLDS = "households"
    RESPONDERS = "responders"


@dataclass(frozen=True, slots=True)
class FileProblem(RosterProblem):
    """A problem of the whole file (unreadable, empty, wrong type): no row or column to point at."""

    def __str__(self) -> str:
        return f"file: {self.reason}"


def file_problem(reason: str) -> FileProblem:
    return FileProblem(row=0, column="", reason=reason)


@dataclass(frozen=True, slots=True)
class Line:
    """One row: ``number`` is what Excel shows (xlsx) or the physical line in the file (CSV)."""

    number: int
    cells: tuple[str, ...]

    def cell(self, index: int) -> str:
        return self.cells[index] if index < len(self.cells) else ""

    @property
    def blank(self) -> bool:
        return not any(self.cells)


@dataclass(frozen=True, slots=True)
class Section:
    kind: SectionKind
    header: Line
    rows: tuple[Line, ...]
    sheet: str | None = None  # the xlsx sheet name as written; CSV has none

    def problem(self, row: int, column: str, reason: str) -> RosterProblem:
        return RosterProblem(row=row, column=column, reason=reason, sheet=self.sheet)


@dataclass(frozen=True, slots=True)
class RosterFile:
    """The sections found in a file, households first."""

    sections: tuple[Section, ...]

    def find(self, kind: SectionKind) -> Section | None:
        return next((s for s in self.sections if s.kind is kind), None)

"""A roster as plain, validated records: what a file says, before it touches the database.

Phones are canonical (see contacts.phones); names are stripped. ``row`` is the line in the file
(1-based, as Excel shows it) so later checks can still point at the cell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from contacts.model import CareFlag, Contact, Role


@dataclass(frozen=True, slots=True)
class HouseholdRecord:
    row: int
    town: str
    village: str
    grid: str
    group: str
    code: str  # 户编号, stable across imports
    head: str
    address: str
    lines: tuple[str, ...]
    contacts: tuple[Contact, ...]
    label: str = ""
    care_flags: frozenset[CareFlag] = frozenset()
    residents: tuple[str, ...] = ()
    key_holders: tuple[Contact, ...] = ()
    notes: str = ""

    @property
    def group_path(self) -> tuple[str, str, str, str]:
        return (self.town, self.village, self.grid, self.group)

    @property
    def spoken_label(self) -> str:
        """The label to speak and print: the file's, else "<联防组> <户主>家"."""
        return self.label or default_label(self.group, self.head)


def default_label(group: str, head: str) -> str:
    return f"{group} {head}家"


@dataclass(frozen=True, slots=True)
class ResponderRecord:
    row: int
    name: str
    role: Role
    phone: str
    scope: tuple[str, ...]  # town[, village[, grid[, group]]]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a section was read from, so checks made later name a cell as the file does."""

    sheet: str | None = None  # xlsx sheet name; None for CSV
    titles: Mapping[str, str] = field(default_factory=dict)  # column key → header text in the file


@dataclass(slots=True)
class Roster:
    households: list[HouseholdRecord] = field(default_factory=list)
    responders: list[ResponderRecord] = field(default_factory=list)
    household_origin: Origin = field(default_factory=Origin)
    responder_origin: Origin = field(default_factory=Origin)


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did (or, in a dry run, would do)."""

    households_added: int = 0
    households_updated: int = 0
    households_unchanged: int = 0
    responders_added: int = 0
    responders_updated: int = 0
    responders_unchanged: int = 0
    places_added: int = 0
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return any((self.households_added, self.households_updated, self.responders_added,
                    self.responders_updated, self.places_added))

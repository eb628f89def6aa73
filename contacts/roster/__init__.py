"""Roster files kept by grid workers in Excel: template, reading, validation, export.

Pure code over bytes: the caller reads and writes files, and the store applies a Roster.

    roster = read_roster("名册.xlsx", data, Rules(policy, max_group_responders=20))  # RosterError
    data = roster_bytes("导出.csv", roster)
"""

from __future__ import annotations

from contacts.roster.columns import cell_problem
from contacts.roster.reading import MAX_ROSTER_BYTES, read_roster_file, too_large
from contacts.roster.records import (
    HouseholdRecord,
    ImportSummary,
    Origin,
    ResponderRecord,
    Roster,
    default_label,
)
from contacts.roster.sections import FileProblem, SectionKind
from contacts.roster.validate import Advance, Rules, crowded_reason, parse_roster
from contacts.roster.writing import WRITERS, roster_bytes, template_roster


def read_roster(
    name: str, data: bytes, rules: Rules | None = None, progress: Advance | None = None,
    max_bytes: int = MAX_ROSTER_BYTES,
) -> Roster:
    """Read and validate the file called ``name``; raises RosterError with every problem found."""
    return parse_roster(read_roster_file(name, data, max_bytes), rules or Rules(), progress)


__all__ = [
    "MAX_ROSTER_BYTES",
    "WRITERS",
    "Advance",
    "FileProblem",
    "HouseholdRecord",
    "ImportSummary",
    "Origin",
    "ResponderRecord",
    "Roster",
    "Rules",
    "SectionKind",
    "cell_problem",
    "crowded_reason",
    "default_label",
    "parse_roster",
    "read_roster",
    "read_roster_file",
    "roster_bytes",
    "template_roster",
    "too_large",
]

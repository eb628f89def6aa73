"""Sections of text rows → a validated Roster, or every problem found.

Checks here need only the file: cell formats, required cells, duplicates between rows, group
sizes within the file. Checks against what is already stored run in the store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from contacts.errors import RosterError, RosterProblem
from contacts.model import ROLE_LABELS
from contacts.phones import DEFAULT_POLICY, PhonePolicy, display_phone
from contacts.roster import cells
from contacts.roster.columns import SECTION_COLUMNS, Column, Header, resolve_header
from contacts.roster.records import HouseholdRecord, Origin, ResponderRecord, Roster
from contacts.roster.sections import Line, RosterFile, Section, SectionKind

Advance = Callable[[int], None]  # told how many more rows were checked
CellReader = Callable[[str, PhonePolicy], Any]
PROGRESS_STEP = 1000


def _text(limit: int) -> CellReader:
    read = cells.text_of(limit)
    return lambda text, _policy: read(text)


HOUSEHOLD_READERS: dict[str, CellReader] = {
    "town": _text(64),
    "village": _text(64),
    "grid": _text(64),
    "group": _text(64),
    "code": _text(64),
    "head": _text(64),
    "address": _text(256),
    "lines": cells.emergency_lines,
    "contacts": lambda text, policy: cells.contact_pairs(text, policy, cells.MAX_CONTACTS),
    "care_flags": lambda text, _policy: cells.care_flags(text),
    "notes": _text(2000),
    "label": _text(128),
    "residents": lambda text, _policy: cells.names(text),
    "key_holders": cells.contact_pairs,
}
RESPONDER_READERS: dict[str, CellReader] = {
    "name": _text(64),
    "role": lambda text, _policy: cells.role(text),
    "phone": cells.phone,
    "scope": lambda text, _policy: cells.scope_path(text),
}


@dataclass(frozen=True, slots=True)
class Rules:
    policy: PhonePolicy = DEFAULT_POLICY
    max_group_responders: int = 20


def parse_roster(roster_file: RosterFile, rules: Rules = Rules(), progress: Advance | None = None) -> Roster:
    """The validated roster; raises RosterError listing every problem, in file order."""
    roster, problems = Roster(), list[RosterProblem]()
    households = roster_file.find(SectionKind.HOUSEHOLDS)
    if households is not None:
        roster.households, found = _households(households, rules, progress)
        roster.household_origin = _origin(households)
        problems += found
    responders = roster_file.find(SectionKind.RESPONDERS)
    if responders is not None:
        roster.responders, found = _responders(responders, rules, progress)
        roster.responder_origin = _origin(responders)
        problems += found
    if problems:
        raise RosterError(problems)
    return roster


def _origin(section: Section) -> Origin:
    return Origin(section.sheet, resolve_header(section)[0].titles)


# ---------------------------------------------------------------- households


def _households(
    section: Section, rules: Rules, progress: Advance | None
) -> tuple[list[HouseholdRecord], list[RosterProblem]]:
    rows, problems = _read_section(section, HOUSEHOLD_READERS, rules.policy, progress)
    if not rows:
        return [], problems
    problems += _household_conflicts(section, rows)
    problems += _crowded_groups(section, rows, rules.max_group_responders)
    return [HouseholdRecord(row=r.number, **r.values) for r in rows if r.complete], _in_file_order(problems)


def _household_conflicts(section: Section, rows: list[_Row]) -> list[RosterProblem]:
    problems: list[RosterProblem] = []
    codes: dict[str, _Row] = {}
    owners: dict[str, _Row] = {}
    for row in rows:
        first = codes.setdefault(row.values.get("code", ""), row)
        if first is not row and "code" in row.values:
            reason = f"household {row.values['code']} is already on row {first.number}"
            problems.append(row.problem(section, "code", reason))
        problems += [
            row.problem(section, "lines", _line_taken(number, owner))
            for number in row.values.get("lines", ())
            if (owner := owners.setdefault(number, row)) is not row
        ]
    return problems


def _line_taken(number: str, owner: _Row) -> str:
    code = owner.values.get("code")
    household = f"household {code} (row {owner.number})" if code else f"the household on row {owner.number}"
    return f"{display_phone(number)} is already the emergency line of {household}"


def _crowded_groups(section: Section, rows: list[_Row], limit: int) -> list[RosterProblem]:
    totals = Counter[tuple[str, ...]]()
    for row in rows:
        totals[row.group_path] += len(row.values.get("contacts", ()))
    running = Counter[tuple[str, ...]]()
    problems: list[RosterProblem] = []
    for row in rows:
        path = row.group_path
        before, running[path] = running[path], running[path] + len(row.values.get("contacts", ()))
        if all(path) and before <= limit < running[path]:
            reason = crowded_reason(path, totals[path], limit, "in this file")
            problems.append(row.problem(section, "contacts", reason))
    return problems


def crowded_reason(path: tuple[str, ...], total: int, limit: int, where: str) -> str:
    return (
        f"joint-defense group {'/'.join(path)} has {total} household contacts {where}; "
        f"at most {limit} responders per group"
    )


# ---------------------------------------------------------------- responders


def _responders(
    section: Section, rules: Rules, progress: Advance | None
) -> tuple[list[ResponderRecord], list[RosterProblem]]:
    rows, problems = _read_section(section, RESPONDER_READERS, rules.policy, progress)
    problems += [p for row in rows if (p := _scope_misfit(section, row))]
    problems += _repeated_responders(section, rows)
    return [ResponderRecord(row=r.number, **r.values) for r in rows if r.complete], _in_file_order(problems)


def _scope_misfit(section: Section, row: _Row) -> RosterProblem | None:
    if "role" not in row.values or "scope" not in row.values:
        return None
    reason = cells.check_scope(row.values["scope"], row.values["role"])
    return row.problem(section, "scope", reason) if reason else None


def _repeated_responders(section: Section, rows: list[_Row]) -> list[RosterProblem]:
    seen: dict[tuple[object, ...], _Row] = {}
    problems: list[RosterProblem] = []
    for row in rows:
        if not row.values.keys() >= {"role", "scope", "name"}:
            continue
        role, scope, name = row.values["role"], row.values["scope"], row.values["name"]
        first = seen.setdefault((role, scope, name), row)
        if first is not row:
            where = "/".join(scope)
            reason = f"{name} is already listed as {ROLE_LABELS[role]} of {where} on row {first.number}"
            problems.append(row.problem(section, "name", reason))
    return problems


# ---------------------------------------------------------------- one row


@dataclass(slots=True)
class _Row:
    """A row's readable cells; ``complete`` when every cell could be read."""

    number: int
    values: dict[str, Any]
    titles: dict[str, str]
    complete: bool

    @property
    def group_path(self) -> tuple[str, ...]:
        return tuple(self.values.get(key, "") for key in ("town", "village", "grid", "group"))

    def problem(self, section: Section, key: str, reason: str) -> RosterProblem:
        return section.problem(self.number, self.titles[key], reason)


def _read_section(
    section: Section, readers: dict[str, CellReader], policy: PhonePolicy, progress: Advance | None
) -> tuple[list[_Row], list[RosterProblem]]:
    header, problems = resolve_header(section)
    if problems:
        return [], problems  # rows cannot be trusted when the header is wrong
    rows = []
    for line in _counted(section.rows, progress):
        row, found = _read_row(section, header, line, readers, policy)
        rows.append(row)
        problems += found
    return rows, problems


def _read_row(
    section: Section, header: Header, line: Line, readers: dict[str, CellReader], policy: PhonePolicy
) -> tuple[_Row, list[RosterProblem]]:
    values: dict[str, Any] = {}
    problems: list[RosterProblem] = []
    for column in _in_file_columns(section.kind, header):
        text = line.cell(header.positions[column.key]) if column.key in header.positions else ""
        reason = _read_cell(column, text, readers[column.key], policy, values)
        if reason:
            problems.append(section.problem(line.number, header.titles[column.key], reason))
    return _Row(line.number, values, header.titles, not problems), problems


def _read_cell(
    column: Column, text: str, reader: CellReader, policy: PhonePolicy, values: dict[str, Any]
) -> str:
    if column.mandatory and not text:
        return "empty; this column must be filled on every row"
    try:
        values[column.key] = reader(text, policy)
    except cells.CellError as exc:
        return str(exc)
    return ""


def _in_file_columns(kind: SectionKind, header: Header) -> list[Column]:
    """Columns in the order the file has them, so problems of a row read left to right."""
    absent = len(header.positions) + 1000
    return sorted(SECTION_COLUMNS[kind], key=lambda c: header.positions.get(c.key, absent))


def _counted(rows: tuple[Line, ...], progress: Advance | None) -> Iterator[Line]:
    for index, line in enumerate(rows, start=1):
        yield line
        if progress is not None and index % PROGRESS_STEP == 0:
            progress(PROGRESS_STEP)
    if progress is not None:
        progress(len(rows) % PROGRESS_STEP)


def _in_file_order(problems: list[RosterProblem]) -> list[RosterProblem]:
    return sorted(problems, key=lambda p: p.row)

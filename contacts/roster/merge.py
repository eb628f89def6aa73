"""Merging a roster into what is stored: what to add, update or leave, and what conflicts.

Pure: the store loads the stored rows the roster names into a ``Stored`` snapshot and place ids
by name path; these functions decide; the store writes the ``Plan``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from contacts.errors import RosterProblem
from contacts.model import CareFlag, Contact
from contacts.phones import display_phone
from contacts.roster.columns import cell_problem
from contacts.roster.records import HouseholdRecord, ImportSummary, ResponderRecord, Roster
from contacts.roster.sections import SectionKind
from contacts.roster.validate import crowded_reason

Path = tuple[str, ...]  # town[, village[, grid[, group]]] names
Identity = tuple[str, Path, str]  # a responder's (role, scope path, name)
PlaceIds = Mapping[Path, int]


_FLAG_ORDER = tuple(f.value for f in CareFlag)


def care_values(flags: Iterable[str]) -> tuple[str, ...]:
    """Care flags in the enum's order, so stored and read lists compare equal."""
    wanted = set(flags)
    return tuple(f for f in _FLAG_ORDER if f in wanted) if wanted else ()


def pairs(contacts: Iterable[Contact]) -> tuple[tuple[str, str], ...]:
    return tuple((c.name, c.phone) for c in contacts)


def content(group_id: int, r: HouseholdRecord) -> tuple[Any, ...]:
    """What an import may change about a household, in a form stored rows compare with."""
    return (
        group_id, r.head, r.spoken_label, r.address, care_values(r.care_flags), tuple(r.residents),
        pairs(r.key_holders), r.notes, tuple(sorted(r.lines)), pairs(r.contacts),
    )


@dataclass(frozen=True, slots=True)
class StoredHousehold:
    id: int
    code: str
    group_id: int
    content: tuple[Any, ...]


@dataclass
class Stored:
    """The stored rows an import of ``roster`` can touch or collide with."""

    households: dict[str, StoredHousehold] = field(default_factory=dict)
    line_owners: dict[str, str] = field(default_factory=dict)  # number → household code
    group_contacts: Counter[int] = field(default_factory=Counter)  # group id → responders kept
    responders: dict[Identity, tuple[int, str]] = field(default_factory=dict)  # → (id, phone)


@dataclass
class Plan:
    new_places: list[Path] = field(default_factory=list)
    household_inserts: list[HouseholdRecord] = field(default_factory=list)
    household_updates: list[tuple[int, HouseholdRecord]] = field(default_factory=list)
    households_unchanged: int = 0
    responder_inserts: list[ResponderRecord] = field(default_factory=list)
    responder_updates: list[tuple[int, ResponderRecord]] = field(default_factory=list)
    responders_unchanged: int = 0

    def summary(self, dry_run: bool) -> ImportSummary:
        return ImportSummary(
            households_added=len(self.household_inserts),
            households_updated=len(self.household_updates),
            households_unchanged=self.households_unchanged,
            responders_added=len(self.responder_inserts),
            responders_updated=len(self.responder_updates),
            responders_unchanged=self.responders_unchanged,
            places_added=len(self.new_places),
            dry_run=dry_run,
        )

    def rows_to_write(self) -> int:
        changed = [*self.household_inserts, *(r for _, r in self.household_updates)]
        per_household = sum(1 + len(r.lines) + len(r.contacts) for r in changed)
        responders = len(self.responder_inserts) + len(self.responder_updates)
        return len(self.new_places) + per_household + responders


def paths_named(roster: Roster) -> dict[Path, None]:
    """Every town, village, grid and group path the households name, in file order."""
    return dict.fromkeys(r.group_path[:depth] for r in roster.households for depth in range(1, 5))


def new_places(roster: Roster, place_ids: PlaceIds) -> list[Path]:
    return sorted((p for p in paths_named(roster) if p not in place_ids), key=len)


def plan_merge(roster: Roster, place_ids: PlaceIds, stored: Stored) -> Plan:
    plan = Plan(new_places=new_places(roster, place_ids))
    for record in roster.households:
        _plan_household(plan, record, place_ids.get(record.group_path), stored.households.get(record.code))
    for responder in roster.responders:
        _plan_responder(plan, responder, stored.responders.get(identity(responder)))
    return plan


def _plan_household(
    plan: Plan, record: HouseholdRecord, group_id: int | None, stored: StoredHousehold | None
) -> None:
    if stored is None:
        plan.household_inserts.append(record)
    elif group_id is None or content(group_id, record) != stored.content:
        plan.household_updates.append((stored.id, record))
    else:
        plan.households_unchanged += 1


def identity(r: ResponderRecord) -> Identity:
    return (r.role.value, r.scope, r.name)


def _plan_responder(plan: Plan, record: ResponderRecord, stored: tuple[int, str] | None) -> None:
    if stored is None:
        plan.responder_inserts.append(record)
    elif stored[1] != record.phone:
        plan.responder_updates.append((stored[0], record))
    else:
        plan.responders_unchanged += 1


# ---------------------------------------------------------------- conflicts with what is stored


def conflicts(roster: Roster, place_ids: PlaceIds, stored: Stored, limit: int) -> list[RosterProblem]:
    """Households' problems in row order, then responders'."""
    households = [*_taken_lines(roster, stored), *_crowded_groups(roster, place_ids, stored, limit)]
    return sorted(households, key=lambda p: p.row) + list(_unknown_scopes(roster, place_ids))


def _taken_lines(roster: Roster, stored: Stored) -> Iterator[RosterProblem]:
    codes = {r.code for r in roster.households}
    for record in roster.households:
        for number in record.lines:
            owner = stored.line_owners.get(number, record.code)
            if owner not in codes:
                reason = (
                    f"{display_phone(number)} is already the emergency line of household {owner} "
                    "in the database, which this file does not change"
                )
                yield _household_problem(roster, record.row, "lines", reason)


def _crowded_groups(roster: Roster, place_ids: PlaceIds, stored: Stored, limit: int) -> Iterator[RosterProblem]:
    totals = Counter[Path]()
    first: dict[Path, HouseholdRecord] = {}
    for record in roster.households:
        totals[record.group_path] += len(record.contacts)
        first.setdefault(record.group_path, record)
    for path, in_file in totals.items():
        total = in_file + stored.group_contacts.get(place_ids.get(path, -1), 0)
        if total > limit:
            reason = crowded_reason(path, total, limit, "with those already stored")
            yield _household_problem(roster, first[path].row, "contacts", reason)


def _unknown_scopes(roster: Roster, place_ids: PlaceIds) -> Iterator[RosterProblem]:
    created = paths_named(roster)
    for record in roster.responders:
        if record.scope not in place_ids and record.scope not in created:
            reason = f"{'/'.join(record.scope)} not found: no household of this file or the database is there"
            yield cell_problem(roster.responder_origin, SectionKind.RESPONDERS, record.row, "scope", reason)


def _household_problem(roster: Roster, row: int, key: str, reason: str) -> RosterProblem:
    return cell_problem(roster.household_origin, SectionKind.HOUSEHOLDS, row, key, reason)

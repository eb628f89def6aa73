"""Directory entities as plain values.

Town (乡镇) → village (村/社区) → grid (网格) → joint-defense group (联防组) → household (户).
Responders are attached to the level they cover; a household's own 1–2 contacts answer for it
inside its joint-defense group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ScopeLevel(StrEnum):
    TOWN = "town"
    VILLAGE = "village"
    GRID = "grid"
    GROUP = "group"


class Role(StrEnum):
    HOUSEHOLD_CONTACT = "household_contact"
    GRID_WORKER = "grid_worker"
    GRID_CENTRE_HOUSEHOLD = "grid_centre_household"
    VOLUNTEER = "volunteer"
    VILLAGE_STATION = "village_station"
    TOWNSHIP_DUTY_OFFICER = "township_duty_officer"
    POLICE_STATION = "police_station"


ROLE_LABELS: dict[Role, str] = {
    Role.HOUSEHOLD_CONTACT: "联防户",
    Role.GRID_WORKER: "网格员",
    Role.GRID_CENTRE_HOUSEHOLD: "网格中心户",
    Role.VOLUNTEER: "志愿者",
    Role.VILLAGE_STATION: "村网格站",
    Role.TOWNSHIP_DUTY_OFFICER: "乡镇值班员",
    Role.POLICE_STATION: "派出所",
}

# Levels a role may be attached to; the first is where a roster puts it by default.
ROLE_SCOPES: dict[Role, tuple[ScopeLevel, ...]] = {
    Role.HOUSEHOLD_CONTACT: (ScopeLevel.GROUP,),
    Role.GRID_WORKER: (ScopeLevel.GRID,),
    Role.GRID_CENTRE_HOUSEHOLD: (ScopeLevel.GRID,),
    Role.VOLUNTEER: (ScopeLevel.GRID, ScopeLevel.VILLAGE),
    Role.VILLAGE_STATION: (ScopeLevel.VILLAGE,),
    Role.TOWNSHIP_DUTY_OFFICER: (ScopeLevel.TOWN,),
    Role.POLICE_STATION: (ScopeLevel.TOWN,),
}

# The order alerts climb: neighbours first, the police last.
ESCALATION_ROLE_ORDER: tuple[Role, ...] = tuple(Role)


class CareFlag(StrEnum):
    LIVING_ALONE = "living_alone"
    LEFT_BEHIND_CHILD = "left_behind_child"
    DISABLED = "disabled"
    MENTAL_ILLNESS = "mental_illness"
    CHRONIC_ILLNESS = "chronic_illness"


CARE_FLAG_LABELS: dict[CareFlag, str] = {
    CareFlag.LIVING_ALONE: "独居老人",
    CareFlag.LEFT_BEHIND_CHILD: "留守儿童",
    CareFlag.DISABLED: "残疾",
    CareFlag.MENTAL_ILLNESS: "精神障碍",
    CareFlag.CHRONIC_ILLNESS: "慢性病",
}


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    phone: str


@dataclass(frozen=True, slots=True)
class Place:
    """Where a household sits in the hierarchy (ids and names)."""

    town_id: int
    town: str
    village_id: int
    village: str
    grid_id: int
    grid: str
    group_id: int
    group: str

    @property
    def path(self) -> str:
        return f"{self.town}/{self.village}/{self.grid}/{self.group}"


@dataclass(frozen=True, slots=True)
class Responder:
    id: int
    name: str
    phone: str
    role: Role
    scope: ScopeLevel
    scope_id: int
    household_id: int | None = None  # set for a household's own contacts
    position: int = 0  # order among one household's contacts: the first is called first

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]


@dataclass(frozen=True, slots=True)
class HouseholdProfile:
    id: int
    code: str
    label: str
    head: str
    address: str
    emergency_lines: tuple[str, ...]
    care_flags: frozenset[CareFlag] = frozenset()
    residents: tuple[str, ...] = ()
    key_holders: tuple[Contact, ...] = ()
    notes: str = ""

    @property
    def care_labels(self) -> tuple[str, ...]:
        return tuple(CARE_FLAG_LABELS[f] for f in CareFlag if f in self.care_flags)


@dataclass(frozen=True, slots=True)
class CallerLookup:
    """Everything the incident engine needs about a caller, in escalation order."""

    household: HouseholdProfile
    place: Place
    own_contacts: tuple[Responder, ...] = ()
    neighbours: tuple[Responder, ...] = ()  # other households' contacts in the same group
    upper_levels: tuple[Responder, ...] = field(default=())  # grid worker … police, in climbing order

    def by_role(self, role: Role) -> tuple[Responder, ...]:
        pool = self.neighbours if role is Role.HOUSEHOLD_CONTACT else self.upper_levels
        return tuple(r for r in pool if r.role is role)

    @property
    def grid_workers(self) -> tuple[Responder, ...]:
        return self.by_role(Role.GRID_WORKER)

    def escalation_order(self) -> tuple[Responder, ...]:
        return self.neighbours + self.upper_levels


def order_responders(
    responders: list[Responder], household_id: int
) -> tuple[tuple[Responder, ...], tuple[Responder, ...], tuple[Responder, ...]]:
    """Split a group's and its parents' responders into (own contacts, neighbours, upper levels).

    Household contacts are grouped by household, each household's in their ``position`` order;
    upper levels are sorted by role in escalation order. Ties fall back to the id, so the order is stable.
    """
    rank = {role: i for i, role in enumerate(ESCALATION_ROLE_ORDER)}
    ordered = sorted(responders, key=lambda r: (rank[r.role], r.household_id or 0, r.position, r.id))
    own = tuple(r for r in ordered if r.role is Role.HOUSEHOLD_CONTACT and r.household_id == household_id)
    neighbours = tuple(
        r for r in ordered if r.role is Role.HOUSEHOLD_CONTACT and r.household_id != household_id
    )
    upper = tuple(r for r in ordered if r.role is not Role.HOUSEHOLD_CONTACT)
    return own, neighbours, upper

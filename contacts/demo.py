"""Deterministic synthetic rosters for demos, tests and benchmarks.

Pure: everything comes from one ``random.Random(seed)``, so a seed always yields the same roster.
The shape follows the field reports: ~98 households a grid, ~10 households a joint-defense group,
1–6 people a household, one emergency line each and 1–2 contacts who answer for it in the group.
Phones are canonical (E.164 or bare extensions) and unique by construction, not by retrying.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from contacts.demo_names import (
    DISTRICTS,
    ELDER_FEMALE,
    ELDER_MALE,
    GENERAL_NOTES,
    MIDDLE_FEMALE,
    MIDDLE_MALE,
    NOTES_BY_FLAG,
    PLACE_ENDINGS,
    PLACE_WORDS,
    SURNAME_WEIGHTS,
    TOWNS,
    YOUNG_FEMALE,
    YOUNG_MALE,
    GivenNameTable,
    chinese_number,
)
from contacts.model import CareFlag, Contact, Role
from contacts.roster.records import HouseholdRecord, ResponderRecord, Roster

DEFAULT_SEED = 995


@dataclass(frozen=True, slots=True)
class DemoScale:
    name: str
    towns: int
    villages: int
    grids: int
    households: int
    # Share of households, taken from the first group on, whose line and contacts are PBX extensions,
    # so a demo with softphones can ring a whole group and its upper levels.
    extension_share: float = 0.0


VILLAGE = DemoScale("village", towns=1, villages=1, grids=4, households=400, extension_share=0.1)
DISTRICT = DemoScale("district", towns=14, villages=176, grids=1276, households=125_000)
SCALES: dict[str, DemoScale] = {"village": VILLAGE, "district": DISTRICT}


def scale_for_households(households: int, extension_share: float = 0.0) -> DemoScale:
    """A directory of exactly ``households`` with the district's proportions."""
    if households < 1:
        raise ValueError("households must be at least 1")
    ratio = households / DISTRICT.households
    towns = max(1, round(DISTRICT.towns * ratio))
    villages = max(towns, round(DISTRICT.villages * ratio))
    grids = min(households, max(villages, round(DISTRICT.grids * ratio)))
    villages, towns = min(villages, grids), min(towns, grids)
    return DemoScale("custom", towns, villages, grids, households, extension_share)


# Shares per household. Living alone and left-behind children exclude each other (household size).
CARE_SHARES: dict[CareFlag, float] = {
    CareFlag.LIVING_ALONE: 0.08,
    CareFlag.LEFT_BEHIND_CHILD: 0.05,
    CareFlag.DISABLED: 0.03,
    CareFlag.MENTAL_ILLNESS: 0.01,
    CareFlag.CHRONIC_ILLNESS: 0.10,
}
LANDLINE_SHARE = 0.12
SECOND_CONTACT_SHARE = 0.5
CLAN_SHARE = 0.35  # villages are often named after, and largely made of, one family
GROUP_SIZE = 10
_SIZE_CUMULATIVE = (0.06, 0.36, 0.60, 0.80, 0.92, 1.0)  # people per household 1..6, cumulative
_MOBILE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "180", "181", "182", "183", "185", "186", "187",
    "188", "189", "177", "199",
)
_FLAG_ORDER = tuple(CareFlag)  # iterating the enum itself is slow in a loop run per household
_NO_FLAGS: frozenset[CareFlag] = frozenset()
_LANDLINE_AREA = "717"  # Yichang
_LANDLINE_FIRST_DIGITS = "6785432"  # 0717-6xxxxxx first, one million numbers per digit


def generate_roster(
    scale: DemoScale, seed: int = DEFAULT_SEED, max_group_responders: int = 20
) -> Roster:
    """The whole synthetic roster of ``scale`` for ``seed``."""
    roster = Roster()
    for chunk in iter_roster(scale, seed, max_group_responders):
        roster.households.extend(chunk.households)
        roster.responders.extend(chunk.responders)
    return roster


def iter_roster(
    scale: DemoScale, seed: int = DEFAULT_SEED, max_group_responders: int = 20
) -> Iterator[Roster]:
    """The same roster one village at a time, for loaders that must not hold millions of records."""
    if max_group_responders < 1:
        raise ValueError("max_group_responders must be at least 1")
    return _Generator(scale, random.Random(seed), max_group_responders).villages()


def showcase(roster: Roster, count: int = 5) -> list[HouseholdRecord]:
    """A few households worth looking up in a demo: an extension, care flags, a landline."""
    wanted: list[Callable[[HouseholdRecord], bool]] = [
        lambda h: not h.lines[0].startswith("+"),
        lambda h: CareFlag.LIVING_ALONE in h.care_flags,
        lambda h: CareFlag.MENTAL_ILLNESS in h.care_flags,
        lambda h: CareFlag.LEFT_BEHIND_CHILD in h.care_flags,
        lambda h: h.lines[0].startswith("+86" + _LANDLINE_AREA),
    ]
    picked: list[HouseholdRecord] = []
    for test in wanted:
        found = next((h for h in roster.households if test(h) and h not in picked), None)
        if found is not None:
            picked.append(found)
    return picked[:count]


def _split(total: int, parts: int, rng: random.Random, spread: float) -> list[int]:
    """``total`` spread over ``parts`` (each at least 1), sizes varying by about ±spread."""
    if total < parts:
        raise ValueError(f"cannot split {total} into {parts} non-empty parts")
    weights = [1 + spread * (2 * rng.random() - 1) for _ in range(parts)]
    unit = (total - parts) / sum(weights)
    sizes = [1 + int(w * unit) for w in weights]
    for i in range(total - sum(sizes)):
        sizes[i % parts] += 1
    return sizes


class _Phones:
    """Unique canonical numbers: a counter through an affine permutation, so no set of seen numbers."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._mobile = _Permutation(rng, 100_000_000)
        self._landline = _Permutation(rng, 1_000_000)
        self._extensions = {"2": 0, "3": 0}

    def mobile(self) -> str:
        prefix = _MOBILE_PREFIXES[int(self._rng.random() * len(_MOBILE_PREFIXES))]
        return f"+86{prefix}{self._mobile.next():08d}"

    def landline(self) -> str:
        block = self._landline.count // 1_000_000  # the permutation repeats every million
        if block >= len(_LANDLINE_FIRST_DIGITS):
            raise ValueError("out of synthetic landline numbers")
        return f"+86{_LANDLINE_AREA}{_LANDLINE_FIRST_DIGITS[block]}{self._landline.next():06d}"

    def extension(self, first_digit: str) -> str:
        """2001.. for household lines, 3001.. for responders; 5 then 6 digits when 4 run out."""
        index = self._extensions[first_digit]
        self._extensions[first_digit] = index + 1
        for width, start in ((4, 1), (5, 0), (6, 0)):
            room = 10 ** (width - 1) - start
            if index < room:
                return f"{first_digit}{start + index:0{width - 1}d}"
            index -= room
        raise ValueError("out of PBX extensions")


class _Permutation:
    """i → (a·i + b) mod n with a coprime to n (a power of ten): distinct for the first n values of i."""

    def __init__(self, rng: random.Random, modulus: int) -> None:
        multiplier = rng.randrange(modulus // 10, modulus) | 1
        while multiplier % 5 == 0:
            multiplier += 2
        self._a, self._b, self._n = multiplier, rng.randrange(modulus), modulus
        self.count = 0

    def next(self) -> int:
        value = (self._a * self.count + self._b) % self._n
        self.count += 1
        return value


class _People:
    """Names: a weighted surname, then one or two given-name characters of the person's generation."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._surnames = "".join(s * w for s, w in SURNAME_WEIGHTS.items())
        self.clan = self.surname()

    def surname(self) -> str:
        return self._surnames[int(self._rng.random() * len(self._surnames))]

    def head_surname(self) -> str:
        return self.clan if self._rng.random() < CLAN_SHARE else self.surname()

    def name(self, surname: str, table: GivenNameTable) -> str:
        first, second, single = table
        r = self._rng.random
        if r() < 0.15:
            return surname + single[int(r() * len(single))]
        return surname + first[int(r() * len(first))] + second[int(r() * len(second))]

    def person(self, elder: bool) -> str:
        male = self._rng.random() < 0.6
        table = (ELDER_MALE if male else ELDER_FEMALE) if elder else (MIDDLE_MALE if male else MIDDLE_FEMALE)
        return self.name(self.surname(), table)


@dataclass(slots=True)
class _Where:
    """The place being filled and the counters that number its households and rows."""

    district: str = ""
    town: str = ""
    village: str = ""
    grid: str = ""
    group: str = ""
    code: str = ""  # town-village-grid prefix of household codes
    extensions: bool = False
    house: int = 0
    village_group: int = 0
    village_group_name: str = ""
    neighbour: Contact | None = None
    household_row: int = 1  # rows as a spreadsheet would number them, under a header
    responder_row: int = 1


class _Generator:
    def __init__(self, scale: DemoScale, rng: random.Random, max_group_responders: int) -> None:
        self._scale, self._rng, self._budget = scale, rng, max_group_responders
        self._phones, self._people = _Phones(rng), _People(rng)
        self._extension_households = round(scale.households * scale.extension_share)
        self._households_made = 0
        self._where = _Where()
        self._town_names: set[str] = set()
        self._responders_named: set[tuple[Role, tuple[str, ...], str]] = set()  # in the current town

    def villages(self) -> Iterator[Roster]:
        s, rng = self._scale, self._rng
        villages_per_town = _split(s.villages, s.towns, rng, 0.25)
        grids_per_village = iter(_split(s.grids, s.villages, rng, 0.4))
        households_per_grid = iter(_split(s.households, s.grids, rng, 0.35))
        for t, village_count in enumerate(villages_per_town):
            roster = self._town(t)
            village_names: set[str] = set()
            for v in range(village_count):
                grid_sizes = [next(households_per_grid) for _ in range(next(grids_per_village))]
                self._village(t, v, village_names, grid_sizes, roster)
                yield roster
                roster = Roster()

    def _town(self, t: int) -> Roster:
        w = self._where
        w.district = DISTRICTS[(t // len(TOWNS)) % len(DISTRICTS)]
        w.town = self._town_name(t)
        w.extensions = self._extension_households > 0 and t == 0
        self._responders_named.clear()
        roster = Roster()
        self._town_responders(roster)
        return roster

    def _town_name(self, t: int) -> str:
        if t < len(TOWNS):
            self._town_names.add(TOWNS[t])
            return TOWNS[t]
        return self._unique(self._town_names, "镇")

    def _village(self, t: int, v: int, names: set[str], grid_sizes: list[int], roster: Roster) -> None:
        w = self._where
        suffix = "社区" if w.town.endswith("街道") else "村"
        w.village = self._unique(names, suffix)
        w.village_group = 0
        self._people.clan = self._people.surname()
        self._village_responders(roster)
        for g, size in enumerate(grid_sizes):
            w.grid, w.code = f"第{chinese_number(g + 1)}网格", f"{t + 1:02d}-{v + 1:02d}-{g + 1:02d}"
            self._grid(size, roster)
            w.extensions = w.extensions and self._households_made < self._extension_households

    def _grid(self, size: int, roster: Roster) -> None:
        self._grid_responders(roster)
        groups = max(-(-size // self._budget), round(size / GROUP_SIZE), 1)
        number = 0
        for i, members in enumerate(_split(size, groups, self._rng, 0.0)):
            self._where.group = f"联防{chinese_number(i + 1)}组"
            self._where.neighbour = None
            self._next_village_group(i)
            for contacts in self._contact_counts(members):
                number += 1
                roster.households.append(self._household(number, contacts))

    def _next_village_group(self, group_index: int) -> None:
        # Addresses use the village's own 村民小组, about three joint-defense groups each.
        w = self._where
        if group_index % 3 == 0:
            w.village_group += 1
            w.village_group_name = chinese_number(w.village_group)
            w.house = 0

    def _contact_counts(self, members: int) -> list[int]:
        """1–2 contacts per household, never more than the group's responder budget in all."""
        if members > self._budget:
            raise ValueError(f"a group of {members} households cannot stay within {self._budget} responders")
        spare = self._budget - members
        counts = []
        for _ in range(members):
            two = spare > 0 and self._rng.random() < SECOND_CONTACT_SHARE
            spare -= two
            counts.append(1 + two)
        return counts

    def _household(self, number: int, contact_count: int) -> HouseholdRecord:
        w, rng = self._where, self._rng
        extension = w.extensions and self._households_made < self._extension_households
        self._households_made += 1
        flags = self._care_flags()
        residents = self._residents(flags)
        w.house += 1
        line = self._phones.extension("2") if extension else self._line()
        contacts = self._contacts(residents, contact_count, extension)
        keys = self._key_holders(flags)
        w.neighbour = contacts[0]
        w.household_row += 1
        return HouseholdRecord(
            row=w.household_row, town=w.town, village=w.village, grid=w.grid, group=w.group,
            code=f"{w.code}-{number:03d}", head=residents[0],
            address=f"{w.district} {w.town} {w.village} {w.village_group_name}组 {w.house}号",
            lines=(line,), contacts=contacts, care_flags=flags, residents=residents,
            key_holders=keys, notes=self._notes(flags) if flags or rng.random() < 0.1 else "",
        )

    def _line(self) -> str:
        return self._phones.landline() if self._rng.random() < LANDLINE_SHARE else self._phones.mobile()

    def _care_flags(self) -> frozenset[CareFlag]:
        r = self._rng.random
        first = r()
        flags = set()
        if first < CARE_SHARES[CareFlag.LIVING_ALONE]:
            flags.add(CareFlag.LIVING_ALONE)
        elif first < CARE_SHARES[CareFlag.LIVING_ALONE] + CARE_SHARES[CareFlag.LEFT_BEHIND_CHILD]:
            flags.add(CareFlag.LEFT_BEHIND_CHILD)
        for flag in (CareFlag.DISABLED, CareFlag.MENTAL_ILLNESS, CareFlag.CHRONIC_ILLNESS):
            if r() < CARE_SHARES[flag]:
                flags.add(flag)
        return frozenset(flags) if flags else _NO_FLAGS

    def _residents(self, flags: frozenset[CareFlag]) -> tuple[str, ...]:
        """Head first; then a spouse, grown children and grandchildren (or only grandchildren)."""
        p, r = self._people, self._rng.random
        size = self._household_size(flags)
        surname, male = p.head_surname(), r() < 0.75
        elder = size > 1 or CareFlag.LIVING_ALONE in flags
        head_table = (ELDER_MALE if male else ELDER_FEMALE) if elder else (MIDDLE_MALE if male else MIDDLE_FEMALE)
        people = [p.name(surname, head_table)]
        left_behind = CareFlag.LEFT_BEHIND_CHILD in flags
        if size > 1 and (left_behind or r() < 0.8):
            people.append(p.name(p.surname(), ELDER_FEMALE if male else ELDER_MALE))
        while len(people) < size:
            young = left_behind or len(people) > 2
            male_child = r() < 0.5
            table = (YOUNG_MALE if male_child else YOUNG_FEMALE) if young else (
                MIDDLE_MALE if male_child else MIDDLE_FEMALE)
            people.append(p.name(surname, table))
        return tuple(people)

    def _household_size(self, flags: frozenset[CareFlag]) -> int:
        if CareFlag.LIVING_ALONE in flags:
            return 1
        draw = self._rng.random()
        size = bisect.bisect_right(_SIZE_CUMULATIVE, draw) + 1
        return max(size, 2) if CareFlag.LEFT_BEHIND_CHILD in flags else size

    def _contacts(self, residents: tuple[str, ...], count: int, extension: bool) -> tuple[Contact, ...]:
        """The head's phone, then another resident's, or a relative's when the head lives alone."""
        names = [residents[0]]
        if count > 1:
            names.append(residents[1] if len(residents) > 1 else self._people.name(residents[0][0], MIDDLE_MALE))
        return tuple(Contact(name, self._responder_phone(extension)) for name in names)

    def _key_holders(self, flags: frozenset[CareFlag]) -> tuple[Contact, ...]:
        # Elderly people living alone often leave a key with the neighbour next door.
        share = 0.7 if CareFlag.LIVING_ALONE in flags else 0.05
        if self._rng.random() >= share:
            return ()
        neighbour = self._where.neighbour
        if neighbour is None:
            neighbour = Contact(self._people.person(elder=True), self._phones.mobile())
        return (neighbour,)

    def _notes(self, flags: frozenset[CareFlag]) -> str:
        choice = self._rng.choice
        parts = [choice(NOTES_BY_FLAG[flag.value]) for flag in _FLAG_ORDER if flag in flags]
        if not parts or self._rng.random() < 0.1:
            parts.append(choice(GENERAL_NOTES))
        return "；".join(parts)

    def _responder_phone(self, extension: bool) -> str:
        return self._phones.extension("3") if extension else self._phones.mobile()

    def _town_responders(self, roster: Roster) -> None:
        town = self._where.town
        short = next((town[: -len(s)] for s in ("街道", "镇", "乡") if town.endswith(s)), town)
        self._responder(roster, Role.POLICE_STATION, f"{short}派出所", (town,), landline=True)
        self._responder(roster, Role.TOWNSHIP_DUTY_OFFICER, f"{short}综治中心值班室", (town,), landline=True)
        for _ in range(1 + (self._rng.random() < 0.5)):
            self._responder(roster, Role.TOWNSHIP_DUTY_OFFICER, self._people.person(False), (town,))

    def _village_responders(self, roster: Roster) -> None:
        w, r = self._where, self._rng.random
        scope = (w.town, w.village)
        for _ in range(1 + (r() < 0.3)):  # 网格管理员 at the village grid station
            self._responder(roster, Role.VILLAGE_STATION, self._people.person(False), scope)
        if r() < 0.5:  # a former cadre
            self._responder(roster, Role.VOLUNTEER, self._people.person(True), scope)

    def _grid_responders(self, roster: Roster) -> None:
        w, p = self._where, self._people
        scope = (w.town, w.village, w.grid)
        self._responder(roster, Role.GRID_WORKER, p.person(False), scope)
        self._responder(roster, Role.GRID_CENTRE_HOUSEHOLD, p.person(True), scope)
        draw = self._rng.random()
        for _ in range((draw > 0.3) + (draw > 0.8)):  # 0, 1 or 2 patrol volunteers
            self._responder(roster, Role.VOLUNTEER, p.person(draw > 0.6), scope)

    def _responder(
        self, roster: Roster, role: Role, name: str, scope: tuple[str, ...], landline: bool = False
    ) -> None:
        w = self._where
        while (role, scope, name) in self._responders_named:  # the store knows a responder by these
            name = self._people.person(elder=role is Role.GRID_CENTRE_HOUSEHOLD)
        self._responders_named.add((role, scope, name))
        if w.extensions:
            phone = self._phones.extension("3")
        else:
            phone = self._phones.landline() if landline else self._phones.mobile()
        w.responder_row += 1
        roster.responders.append(ResponderRecord(w.responder_row, name, role, phone, scope))

    def _place_name(self) -> str:
        word = PLACE_WORDS[int(self._rng.random() * len(PLACE_WORDS))]
        if self._rng.random() < 0.4:
            word = self._people.surname() + "家"
        return word + PLACE_ENDINGS[int(self._rng.random() * len(PLACE_ENDINGS))]

    def _unique(self, taken: set[str], suffix: str) -> str:
        """A place name not yet in ``taken``; after many clashes, numbered like 黄土坡二村."""
        for attempt in range(60):
            name = self._place_name() + (chinese_number(attempt - 18) if attempt >= 20 else "") + suffix
            if name not in taken:
                taken.add(name)
                return name
        raise ValueError("could not find a fresh place name")

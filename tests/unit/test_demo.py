"""The synthetic roster generator: deterministic, well-formed, shaped like the field reports."""

from __future__ import annotations

from collections import Counter
from itertools import chain

import pytest

from contacts.demo import (
    CARE_SHARES,
    DISTRICT,
    VILLAGE,
    generate_roster,
    iter_roster,
    scale_for_households,
    showcase,
)
from contacts.demo_names import SURNAME_WEIGHTS, chinese_number
from contacts.model import CareFlag, Role
from contacts.phones import normalise_phone
from contacts.roster import Roster, read_roster, roster_bytes


@pytest.fixture(scope="module")
def village() -> Roster:
    return generate_roster(VILLAGE)


@pytest.fixture(scope="module")
def district() -> Roster:
    return generate_roster(DISTRICT)


def _places(roster: Roster, depth: int) -> set[tuple[str, ...]]:
    return {h.group_path[:depth] for h in roster.households}


def _all_phones(roster: Roster) -> list[str]:
    households = roster.households
    return [
        *(n for h in households for n in h.lines),
        *(c.phone for h in households for c in chain(h.contacts, h.key_holders)),
        *(r.phone for r in roster.responders),
    ]


def test_same_seed_gives_the_same_roster() -> None:
    assert generate_roster(VILLAGE, seed=7) == generate_roster(VILLAGE, seed=7)


def test_another_seed_gives_other_people_and_numbers(village: Roster) -> None:
    other = generate_roster(VILLAGE, seed=996)
    assert [h.head for h in other.households] != [h.head for h in village.households]
    assert {h.lines for h in other.households[40:]}.isdisjoint({h.lines for h in village.households[40:]})


def test_village_scale_is_one_village_of_four_grids(village: Roster) -> None:
    assert len(village.households) == 400
    assert [len(_places(village, depth)) for depth in (1, 2, 3)] == [1, 1, 4]
    assert 36 <= len(_places(village, 4)) <= 44


def test_every_group_has_about_ten_households_and_at_most_twenty_contacts(village: Roster) -> None:
    households = Counter(h.group_path for h in village.households)
    contacts = Counter[tuple[str, ...]]()
    for h in village.households:
        contacts[h.group_path] += len(h.contacts)
    assert all(8 <= n <= 12 for n in households.values())
    assert max(contacts.values()) <= 20
    assert all(1 <= len(h.contacts) <= 2 for h in village.households)


def test_a_smaller_responder_budget_is_kept() -> None:
    roster = generate_roster(VILLAGE, max_group_responders=12)
    contacts = Counter[tuple[str, ...]]()
    for h in roster.households:
        contacts[h.group_path] += len(h.contacts)
    assert max(contacts.values()) <= 12


def test_every_phone_is_canonical_and_valid(village: Roster) -> None:
    for phone in _all_phones(village):
        assert normalise_phone(phone) == phone


def test_emergency_lines_codes_and_extensions_are_unique(village: Roster) -> None:
    lines = [n for h in village.households for n in h.lines]
    assert len(lines) == len(set(lines)) == 400
    assert len({h.code for h in village.households}) == 400
    # Key holders repeat a neighbour's contact, so only lines, contacts and responders must differ.
    contacts = (c.phone for h in village.households for c in h.contacts)
    phones = chain(lines, contacts, (r.phone for r in village.responders))
    extensions = [p for p in phones if not p.startswith("+")]
    assert len(extensions) == len(set(extensions)) >= 40


def test_the_first_households_dial_from_extensions(village: Roster) -> None:
    first = village.households[:40]
    assert [h.lines[0] for h in first] == [str(2001 + i) for i in range(40)]
    grid_worker = next(r for r in village.responders if r.role is Role.GRID_WORKER)
    assert grid_worker.phone.startswith("3")


def test_names_look_chinese(village: Roster) -> None:
    people = [
        *(n for h in village.households for n in h.residents),
        *(c.name for h in village.households for c in h.contacts),
    ]
    for name in people:
        assert 2 <= len(name) <= 3, name
        assert name[0] in SURNAME_WEIGHTS, name
        assert all("\u4e00" <= ch <= "\u9fff" for ch in name), name


def test_households_have_one_to_six_people_and_one_line(village: Roster) -> None:
    for h in village.households:
        assert 1 <= len(h.residents) <= 6
        assert h.head == h.residents[0]
        assert len(h.lines) == 1
        assert h.address.startswith(f"夷陵区 {h.town} {h.village} ")
        if CareFlag.LIVING_ALONE in h.care_flags:
            assert len(h.residents) == 1


def test_every_level_has_its_responders(village: Roster) -> None:
    roles = Counter(r.role for r in village.responders)
    assert roles[Role.GRID_WORKER] == roles[Role.GRID_CENTRE_HOUSEHOLD] == 4
    assert roles[Role.POLICE_STATION] == 1
    assert roles[Role.VILLAGE_STATION] >= 1
    assert roles[Role.TOWNSHIP_DUTY_OFFICER] >= 2
    named = [(r.role, r.scope, r.name) for r in village.responders]
    assert len(named) == len(set(named))  # the store knows a responder by these three


def test_the_roster_passes_the_roster_file_checks(village: Roster) -> None:
    back = read_roster("demo.csv", roster_bytes("demo.csv", village))
    assert [(h.code, h.lines, h.contacts) for h in back.households] == [
        (h.code, h.lines, h.contacts) for h in village.households
    ]
    assert len(back.responders) == len(village.responders)


def test_chunks_add_up_to_the_roster(village: Roster) -> None:
    chunks = list(iter_roster(VILLAGE))
    assert [h for c in chunks for h in c.households] == village.households
    assert [r for c in chunks for r in c.responders] == village.responders


def test_showcase_offers_an_extension_and_care_flags(village: Roster) -> None:
    picked = showcase(village)
    assert picked[0].lines[0] == "2001"
    assert any(CareFlag.LIVING_ALONE in h.care_flags for h in picked)


def test_district_counts_match_yiling(district: Roster) -> None:
    assert [len(_places(district, depth)) for depth in (1, 2, 3)] == [14, 176, 1276]
    assert 120_000 <= len(district.households) <= 130_000
    assert 12_000 <= len(_places(district, 4)) <= 13_000
    roles = Counter(r.role for r in district.responders)
    assert roles[Role.GRID_WORKER] == 1276
    assert 1_400 <= roles[Role.GRID_WORKER] + roles[Role.VILLAGE_STATION] <= 1_600
    assert roles[Role.POLICE_STATION] == 14


def test_district_lines_are_unique_and_care_shares_realistic(district: Roster) -> None:
    lines = [n for h in district.households for n in h.lines]
    assert len(set(lines)) == len(lines)
    flags = Counter(f for h in district.households for f in h.care_flags)
    for flag, share in CARE_SHARES.items():
        assert flags[flag] / len(district.households) == pytest.approx(share, rel=0.15), flag


def test_custom_scale_has_exactly_the_households_asked_for() -> None:
    assert len(generate_roster(scale_for_households(2_345)).households) == 2_345
    big = scale_for_households(5_000_000)
    assert (big.towns, big.households) == (560, 5_000_000)
    assert 50_000 <= big.grids <= 52_000


@pytest.mark.parametrize(
    ("n", "text"), [(1, "一"), (10, "十"), (12, "十二"), (40, "四十"), (99, "九十九"), (120, "120")]
)
def test_chinese_numbers(n: int, text: str) -> None:
    assert chinese_number(n) == text

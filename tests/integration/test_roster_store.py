"""RosterStore on SQLite and PostgreSQL: upsert, idempotence, conflicts with what is stored, lookup."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callcenter.bootstrap import Container
from callcenter.db.roster_store import RosterStore
from callcenter.db.tables import EmergencyLine, Household, ResponderRow
from contacts.demo import VILLAGE, generate_roster
from contacts.errors import RosterError
from contacts.model import CareFlag, Contact, Role
from contacts.roster import HouseholdRecord, Origin, ResponderRecord, Roster, read_roster

BASE = Path(__file__).resolve().parent.parent / "data" / "rosters" / "good" / "base.csv"
GRID_1 = ("城关镇", "石桥村", "第一网格")

pytestmark = pytest.mark.timeout(120)


def base_roster() -> Roster:
    return read_roster(BASE.name, BASE.read_bytes())


def store_of(container: Container) -> RosterStore:
    directory = container.settings.directory
    return RosterStore(container.engine, directory.phone_policy(), directory.max_group_responders)


def household(code: str, group: str, lines: tuple[str, ...], contacts: int = 0, row: int = 2) -> HouseholdRecord:
    return HouseholdRecord(
        row=row, town="城关镇", village="石桥村", grid="第二网格", group=group, code=code, head=f"户主{code}",
        address=f"{group}{code}号", lines=lines,
        contacts=tuple(Contact(f"联系人{i}", f"+86139{code[-3:]}{i:05d}") for i in range(contacts)),
    )


def counts(container: Container) -> tuple[int, int, int]:
    with container.engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (Household.__table__, EmergencyLine.__table__, ResponderRow.__table__)  # type: ignore[attr-defined]
        )


def without_rows(roster: Roster) -> tuple[list[HouseholdRecord], list[ResponderRecord]]:
    """Records as stored: no file rows, labels spelled out."""
    households = [dataclasses.replace(h, row=0, label=h.spoken_label, lines=tuple(sorted(h.lines)))
                  for h in roster.households]
    responders = [dataclasses.replace(r, row=0) for r in roster.responders]
    return sorted(households, key=lambda h: (h.group_path, h.code)), responders


def test_import_then_reimport_changes_nothing(container: Container) -> None:
    store = store_of(container)
    first = store.apply(base_roster())
    assert (first.households_added, first.responders_added, first.places_added) == (8, 7, 7)
    assert counts(container) == (8, 9, 7 + 11)  # 11 household contacts

    again = store.apply(base_roster())

    assert not again.changed
    assert (again.households_unchanged, again.responders_unchanged) == (8, 7)
    assert counts(container) == (8, 9, 18)


def test_load_returns_what_was_imported(container: Container) -> None:
    store = store_of(container)
    store.apply(base_roster())
    loaded = store.load()
    expected_households, expected_responders = without_rows(base_roster())
    assert loaded.households == expected_households
    assert sorted(loaded.responders, key=str) == sorted(expected_responders, key=str)
    assert not store.apply(loaded).changed


def test_dry_run_writes_nothing(container: Container) -> None:
    summary = store_of(container).apply(base_roster(), dry_run=True)
    assert summary.dry_run and summary.households_added == 8 and summary.places_added == 7
    assert counts(container) == (0, 0, 0)


def test_a_household_in_the_file_is_replaced_by_what_the_file_says(container: Container) -> None:
    store = store_of(container)
    store.apply(base_roster())
    sq001 = next(h for h in base_roster().households if h.code == "SQ-001")
    moved = dataclasses.replace(
        sq001, grid="第二网格", group="三组", lines=("+8613800001099",), contacts=(Contact("新邻居", "8009"),),
        care_flags=frozenset({CareFlag.DISABLED}), residents=(), key_holders=(), notes="",
    )

    summary = store.apply(Roster(households=[moved]))

    assert (summary.households_updated, summary.households_unchanged) == (1, 0)
    found = container.directory.household_by_code("SQ-001")
    assert found is not None
    assert found.place.group == "三组"
    assert found.household.emergency_lines == ("+8613800001099",)
    assert found.household.care_flags == {CareFlag.DISABLED}
    assert [r.name for r in found.own_contacts] == ["新邻居"]
    assert container.directory.household_by_caller("0717-6123401") is None  # the old line is gone
    assert counts(container)[0] == 8  # nobody else touched


def test_a_line_may_move_between_households_of_one_file(container: Container) -> None:
    store = store_of(container)
    store.apply(Roster(households=[household("H-001", "四组", ("+8613800004001",))]))
    handover = Roster(households=[
        household("H-001", "四组", ("+8613800004002",)),
        household("H-002", "四组", ("+8613800004001",)),
    ])

    summary = store.apply(handover)

    assert (summary.households_added, summary.households_updated) == (1, 1)
    moved = container.directory.household_by_caller("13800004001")
    assert moved is not None and moved.household.code == "H-002"


def test_line_of_a_stored_household_outside_the_file_is_refused(container: Container) -> None:
    store = store_of(container)
    store.apply(base_roster())
    before = counts(container)
    intruder = household("SQ-099", "三组", ("+8613800003007",), row=5)
    roster = Roster(households=[intruder], household_origin=Origin("户", {"lines": "一键电话"}))

    with pytest.raises(RosterError) as caught:
        store.apply(roster)

    assert [str(p) for p in caught.value.problems] == [
        "sheet 户, row 5, column 一键电话: 138 0000 3007 is already the emergency line of household SQ-007 "
        "in the database, which this file does not change"
    ]
    assert counts(container) == before


def test_group_over_the_limit_after_merge_is_refused(container: Container) -> None:
    store = store_of(container)
    store.apply(Roster(households=[household(f"H-{i:03d}", "五组", (f"+86138000050{i:02d}",), 2) for i in range(9)]))
    more = household("H-100", "五组", ("+8613800005100",), contacts=2, row=7)
    moved_away = household("H-000", "六组", ("+8613800005000",), 2)

    with pytest.raises(RosterError) as caught:
        store.apply(Roster(households=[more, household("H-101", "五组", ("+8613800005101",), 1, row=8)]))
    assert [str(p) for p in caught.value.problems] == [
        "row 7, column 联系人: joint-defense group 城关镇/石桥村/第二网格/五组 has 21 household contacts "
        "with those already stored; at most 20 responders per group"
    ]
    # Moving one household out of the group in the same file makes room.
    summary = store.apply(Roster(households=[more, moved_away]))
    assert (summary.households_added, summary.households_updated) == (1, 1)


def test_responders_need_a_known_place_and_update_by_identity(container: Container) -> None:
    store = store_of(container)
    store.apply(base_roster())
    stray = ResponderRecord(row=4, name="胡网格", role=Role.GRID_WORKER, phone="+8613800009010",
                            scope=("城关镇", "桃园村", "第一网格"))
    with pytest.raises(RosterError) as caught:
        store.apply(Roster(responders=[stray]))
    assert str(caught.value) == (
        "row 4, column 负责范围: 城关镇/桃园村/第一网格 not found: no household of this file or the database is there"
    )

    new_phone = ResponderRecord(row=2, name="陈网格", role=Role.GRID_WORKER, phone="+8613800009099", scope=GRID_1)
    summary = store.apply(Roster(responders=[new_phone]))
    assert (summary.responders_updated, summary.responders_added) == (1, 0)
    found = container.directory.household_by_code("SQ-001")
    assert found is not None
    assert [r.phone for r in found.grid_workers] == ["+8613800009099"]


@pytest.mark.parametrize("written", ["0717-6123401", "07176123401", "+86 717 6123401", "tel:+867176123401"])
def test_lookup_finds_an_imported_household_by_its_line(container: Container, written: str) -> None:
    store_of(container).apply(base_roster())

    found = container.directory.household_by_caller(written)

    assert found is not None
    assert found.household.code == "SQ-001"
    assert found.household.label == "一组 张桂兰家"
    assert [(r.name, r.phone) for r in found.own_contacts] == [
        ("李国强", "+8613800001001"), ("王秀英", "+8613800001002"),
    ]
    # Neighbours: the other households' contacts of 一组, household by household, in file order.
    assert [r.name for r in found.neighbours] == ["王秀英", "李国强", "张建华"]
    assert [(r.role, r.name) for r in found.upper_levels] == [
        (Role.GRID_WORKER, "陈网格"),
        (Role.GRID_CENTRE_HOUSEHOLD, "李中心"),
        (Role.VOLUNTEER, "吴志愿"),
        (Role.VILLAGE_STATION, "石桥村网格站"),
        (Role.TOWNSHIP_DUTY_OFFICER, "城关镇值班室"),
        (Role.POLICE_STATION, "城关派出所"),
    ]


def test_an_extension_household_is_found_by_its_sip_caller_id(container: Container) -> None:
    store_of(container).apply(base_roster())
    found = container.directory.household_by_caller("sip:8001@pbx.local")
    assert found is not None and found.household.code == "SQ-005"
    assert found.household.care_flags == {CareFlag.DISABLED, CareFlag.LIVING_ALONE}


def test_demo_village_round_trips(container: Container) -> None:
    store = store_of(container)
    roster = generate_roster(VILLAGE, seed=7, max_group_responders=container.settings.directory.max_group_responders)
    progress: list[tuple[int, int]] = []

    summary = store.apply(roster, progress=lambda done, total: progress.append((done, total)))

    assert summary.households_added == len(roster.households)
    assert progress[-1][0] == progress[-1][1]
    assert not store.apply(roster).changed
    assert not store.apply(store.load()).changed

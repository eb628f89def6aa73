"""Deciding what an import changes and what conflicts with stored rows, without a database."""

from __future__ import annotations

import dataclasses
from collections import Counter

from contacts.model import Contact, Role
from contacts.roster import HouseholdRecord, Origin, ResponderRecord, Roster
from contacts.roster.merge import Stored, StoredHousehold, conflicts, content, plan_merge

GROUP = ("城关镇", "石桥村", "第一网格", "一组")
PLACE_IDS = {GROUP[:1]: 1, GROUP[:2]: 2, GROUP[:3]: 3, GROUP: 4}


def household(code: str, line: str, contacts: int = 1, row: int = 2, group: str = "一组") -> HouseholdRecord:
    return HouseholdRecord(
        row=row, town=GROUP[0], village=GROUP[1], grid=GROUP[2], group=group, code=code, head="张三",
        address="1号", lines=(line,), contacts=tuple(Contact(f"人{i}", f"+861390000{i:04d}") for i in range(contacts)),
    )


def stored_as(record: HouseholdRecord, hid: int) -> StoredHousehold:
    return StoredHousehold(hid, record.code, PLACE_IDS[record.group_path], content(4, record))


def test_households_are_added_updated_or_left() -> None:
    same, changed = household("H1", "+8613800000001"), household("H2", "+8613800000002")
    stored = Stored(households={"H1": stored_as(same, 11), "H2": stored_as(changed, 12)})
    roster = Roster(households=[
        same, dataclasses.replace(changed, notes="新备注"), household("H3", "+8613800000003", group="二组"),
    ])

    plan = plan_merge(roster, PLACE_IDS, stored)

    assert plan.households_unchanged == 1
    assert [(i, r.code) for i, r in plan.household_updates] == [(12, "H2")]
    assert [r.code for r in plan.household_inserts] == ["H3"]
    assert plan.new_places == [(*GROUP[:3], "二组")]
    summary = plan.summary(dry_run=True)
    assert (summary.households_added, summary.places_added, summary.dry_run) == (1, 1, True)


def test_line_order_and_default_label_do_not_count_as_changes() -> None:
    record = dataclasses.replace(household("H1", "+8613800000001"), lines=("8001", "+8613800000001"))
    stored = Stored(households={"H1": stored_as(dataclasses.replace(record, label="一组 张三家"), 11)})
    reordered = dataclasses.replace(record, lines=("+8613800000001", "8001"))
    assert plan_merge(Roster(households=[reordered]), PLACE_IDS, stored).households_unchanged == 1


def test_responders_by_role_scope_and_name() -> None:
    worker = ResponderRecord(row=2, name="陈", role=Role.GRID_WORKER, phone="+8613800009001", scope=GROUP[:3])
    stored = Stored(responders={("grid_worker", GROUP[:3], "陈"): (7, "+8613800009999")})
    plan = plan_merge(Roster(responders=[worker]), PLACE_IDS, stored)
    assert plan.responder_updates == [(7, worker)]


def test_conflicts_with_stored_rows() -> None:
    station = ResponderRecord(row=2, name="何", role=Role.VILLAGE_STATION, phone="8001", scope=("城关镇", "桃园村"))
    roster = Roster(
        households=[household("H9", "+8613800000001", contacts=2, row=3),
                    household("H1", "+8613800000005", row=4)],
        responders=[station],
        household_origin=Origin("户", {}),
    )
    stored = Stored(line_owners={"+8613800000001": "H7", "+8613800000005": "H1"}, group_contacts=Counter({4: 18}))

    assert [str(p) for p in conflicts(roster, PLACE_IDS, stored, limit=20)] == [
        "sheet 户, row 3, column 一键电话: 138 0000 0001 is already the emergency line of household H7 "
        "in the database, which this file does not change",
        "sheet 户, row 3, column 联系人: joint-defense group 城关镇/石桥村/第一网格/一组 has 21 household contacts "
        "with those already stored; at most 20 responders per group",
        "row 2, column 负责范围: 城关镇/桃园村 not found: no household of this file or the database is there",
    ]

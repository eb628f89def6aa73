"""The directory model: who answers for a household, and in which order alerts climb."""

from __future__ import annotations

import random

import pytest

from contacts.model import (
    CARE_FLAG_LABELS,
    ESCALATION_ROLE_ORDER,
    ROLE_LABELS,
    ROLE_SCOPES,
    CallerLookup,
    CareFlag,
    Contact,
    HouseholdProfile,
    Place,
    Responder,
    Role,
    ScopeLevel,
    order_responders,
)

CALLER = 10
PLACE = Place(
    town_id=1, town="小溪塔街道", village_id=2, village="石门村",
    grid_id=3, grid="第一网格", group_id=4, group="一组",
)


def contact(rid: int, household_id: int, position: int = 0) -> Responder:
    return Responder(
        rid, f"联系人{rid}", f"+86138000000{rid:02d}", Role.HOUSEHOLD_CONTACT, ScopeLevel.GROUP, 4,
        household_id=household_id, position=position,
    )


def upper(rid: int, role: Role, scope: ScopeLevel = ScopeLevel.GRID, scope_id: int = 3) -> Responder:
    return Responder(rid, f"{ROLE_LABELS[role]}{rid}", f"+86139000000{rid:02d}", role, scope, scope_id)


def household(**changes: object) -> HouseholdProfile:
    fields: dict[str, object] = {
        "id": CALLER, "code": "SMC-001", "label": "张家", "head": "张大山", "address": "石门村一组3号",
        "emergency_lines": ("+867176123456",),
    }
    fields.update(changes)
    return HouseholdProfile(**fields)  # type: ignore[arg-type]


GROUP_AND_UPPER = [
    upper(50, Role.POLICE_STATION, ScopeLevel.TOWN, 1),
    upper(40, Role.TOWNSHIP_DUTY_OFFICER, ScopeLevel.TOWN, 1),
    upper(31, Role.VOLUNTEER, ScopeLevel.VILLAGE, 2),
    upper(30, Role.VILLAGE_STATION, ScopeLevel.VILLAGE, 2),
    upper(22, Role.VOLUNTEER),
    upper(21, Role.GRID_CENTRE_HOUSEHOLD),
    upper(20, Role.GRID_WORKER),
    contact(12, 11, position=1),
    contact(11, 11, position=0),
    contact(2, CALLER, position=1),
    contact(1, CALLER, position=0),
    contact(13, 12),
]


def test_escalation_order_climbs_from_neighbours_to_the_police() -> None:
    assert ESCALATION_ROLE_ORDER == (
        Role.HOUSEHOLD_CONTACT,
        Role.GRID_WORKER,
        Role.GRID_CENTRE_HOUSEHOLD,
        Role.VOLUNTEER,
        Role.VILLAGE_STATION,
        Role.TOWNSHIP_DUTY_OFFICER,
        Role.POLICE_STATION,
    )


def test_every_role_has_a_chinese_label_and_a_scope() -> None:
    assert set(ROLE_LABELS) == set(Role) == set(ROLE_SCOPES)
    assert ROLE_LABELS[Role.GRID_WORKER] == "网格员"
    assert ROLE_LABELS[Role.POLICE_STATION] == "派出所"
    assert ROLE_SCOPES[Role.HOUSEHOLD_CONTACT] == (ScopeLevel.GROUP,)
    assert ROLE_SCOPES[Role.POLICE_STATION] == (ScopeLevel.TOWN,)


def test_every_care_flag_has_a_label() -> None:
    assert set(CARE_FLAG_LABELS) == set(CareFlag)


def test_order_responders_splits_own_contacts_neighbours_and_upper_levels() -> None:
    own, neighbours, upper_levels = order_responders(GROUP_AND_UPPER, CALLER)
    assert [r.id for r in own] == [1, 2]  # by position
    assert [r.id for r in neighbours] == [11, 12, 13]  # by household, then position
    assert [r.role for r in upper_levels] == [
        Role.GRID_WORKER,
        Role.GRID_CENTRE_HOUSEHOLD,
        Role.VOLUNTEER,
        Role.VOLUNTEER,
        Role.VILLAGE_STATION,
        Role.TOWNSHIP_DUTY_OFFICER,
        Role.POLICE_STATION,
    ]
    assert [r.id for r in upper_levels] == [20, 21, 22, 31, 30, 40, 50]


def test_position_orders_a_households_contacts_before_the_id() -> None:
    later_row_first_contact = contact(99, CALLER, position=0)
    earlier_row_second_contact = contact(5, CALLER, position=1)
    own, _, _ = order_responders([earlier_row_second_contact, later_row_first_contact], CALLER)
    assert [r.id for r in own] == [99, 5]


def test_order_does_not_depend_on_the_input_order() -> None:
    expected = order_responders(GROUP_AND_UPPER, CALLER)
    shuffled = list(GROUP_AND_UPPER)
    for seed in range(20):
        random.Random(seed).shuffle(shuffled)
        assert order_responders(shuffled, CALLER) == expected


def test_a_household_without_contacts_still_gets_neighbours_and_upper_levels() -> None:
    own, neighbours, upper_levels = order_responders(GROUP_AND_UPPER, household_id=999)
    assert own == ()
    assert {r.id for r in neighbours} == {1, 2, 11, 12, 13}
    assert len(upper_levels) == 7


def test_order_responders_of_nothing() -> None:
    assert order_responders([], CALLER) == ((), (), ())


def lookup() -> CallerLookup:
    own, neighbours, upper_levels = order_responders(GROUP_AND_UPPER, CALLER)
    return CallerLookup(household(), PLACE, own, neighbours, upper_levels)


def test_caller_lookup_escalation_order_is_neighbours_then_upper_levels() -> None:
    found = lookup()
    order = found.escalation_order()
    assert order == found.neighbours + found.upper_levels
    # The caller's own contacts are not alerted as neighbours.
    assert all(r.household_id != CALLER for r in order)
    assert order[-1].role is Role.POLICE_STATION


def test_by_role_picks_from_the_right_pool() -> None:
    found = lookup()
    assert [r.id for r in found.grid_workers] == [20]
    assert [r.id for r in found.by_role(Role.VOLUNTEER)] == [22, 31]
    assert [r.id for r in found.by_role(Role.HOUSEHOLD_CONTACT)] == [11, 12, 13]
    assert found.by_role(Role.TOWNSHIP_DUTY_OFFICER)[0].role_label == "乡镇值班员"


def test_place_path_reads_from_town_down_to_group() -> None:
    assert PLACE.path == "小溪塔街道/石门村/第一网格/一组"


def test_care_labels_follow_the_flag_order_whatever_the_set_order() -> None:
    profile = household(care_flags=frozenset({CareFlag.MENTAL_ILLNESS, CareFlag.LIVING_ALONE}))
    assert profile.care_labels == ("独居老人", "精神障碍")
    assert household().care_labels == ()


def test_values_are_immutable() -> None:
    profile = household(key_holders=(Contact("李四", "+8613800000001"),))
    with pytest.raises(AttributeError):
        profile.head = "someone else"  # type: ignore[misc]
    assert profile.key_holders[0].name == "李四"

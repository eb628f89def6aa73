"""Fan-out plan: who each level of the shipped policy reaches, and on which channels."""

from __future__ import annotations

from dataclasses import replace

from factories import build_group, mobile, shipped_policy, with_grid_worker_as_neighbour

from callcenter.domain.plan import FanOutPlan, PlannedLevel, plan_fan_out
from callcenter.domain.policy import EscalationPolicy, Level, Target
from callcenter.domain.types import Channel, Recipient
from contacts.model import Responder, Role, ScopeLevel

CALL, SMS = Channel.CALL, Channel.SMS


def _by_phone(level: PlannedLevel) -> dict[str, tuple[str, tuple[Channel, ...]]]:
    return {p.recipient.phone: (p.recipient.role, p.channels) for p in level.recipients}


def test_level_0_alerts_every_neighbour_by_call_and_sms_and_the_grid_worker_by_sms() -> None:
    group = build_group()
    plan = plan_fan_out(group.lookup(0), shipped_policy(), group.line(0))

    level = plan.levels[0]
    neighbours = group.neighbours_of(0)
    assert len(neighbours) == 12  # households 2…10: three with two contacts, six with one
    expected: dict[str, tuple[str, tuple[Channel, ...]]] = {
        r.phone: ("household_contact", (CALL, SMS)) for r in neighbours}
    expected[group.grid_worker.phone] = ("grid_worker", (SMS,))
    assert _by_phone(level) == expected
    assert [p.recipient.phone for p in level.recipients][:12] == [r.phone for r in neighbours]
    assert (level.index, level.name, level.operators, level.urgent) == (0, "联防组", True, False)


def test_upper_levels_reach_grid_then_village_and_township_then_police() -> None:
    group = build_group()
    plan = plan_fan_out(group.lookup(0), shipped_policy(), group.line(0))

    grid = {r.phone: (str(r.role), (CALL,)) for r in group.upper_levels
            if r.role in (Role.GRID_WORKER, Role.GRID_CENTRE_HOUSEHOLD, Role.VOLUNTEER)}
    assert _by_phone(plan.levels[1]) == grid
    assert len(grid) == 4  # grid worker, grid centre household, two volunteers
    station, township = group.role(Role.VILLAGE_STATION)[0], group.role(Role.TOWNSHIP_DUTY_OFFICER)[0]
    assert _by_phone(plan.levels[2]) == {station.phone: ("village_station", (CALL,)),
                                         township.phone: ("township_duty_officer", (CALL,))}
    police = group.role(Role.POLICE_STATION)[0]
    assert _by_phone(plan.levels[3]) == {police.phone: ("police_station", (CALL,))}
    assert [(lv.name, lv.operators, lv.urgent) for lv in plan.levels[1:]] == [
        ("网格", False, False), ("村站和乡镇", False, False), ("派出所", False, True)]


def test_recipients_carry_the_responder_name_and_id() -> None:
    group = build_group()
    plan = plan_fan_out(group.lookup(0), shipped_policy(), group.line(0))
    first = group.contact(1)
    assert plan.levels[0].recipients[0].recipient == Recipient(first.name, first.phone, "household_contact",
                                                               first.id)
    assert plan.recipient(first.phone) == plan.levels[0].recipients[0].recipient


def test_the_callers_own_contacts_are_not_alerted_as_neighbours() -> None:
    group = build_group()
    own = group.lookup(0).own_contacts
    assert len(own) == 2
    plan = plan_fan_out(group.lookup(0), shipped_policy(), group.line(0))
    phones = {p.recipient.phone for lv in plan.levels for p in lv.recipients}
    assert not phones & {r.phone for r in own}
    assert plan.recipient(own[0].phone) is None


def test_a_press_from_another_household_alerts_the_first_households_contacts() -> None:
    group = build_group()
    plan = plan_fan_out(group.lookup(3), shipped_policy(), group.line(3))
    phones = {p.recipient.phone for p in plan.levels[0].recipients}
    assert {group.contact(0, 0).phone, group.contact(0, 1).phone} <= phones
    assert not {group.contact(3, 0).phone, group.contact(3, 1).phone} & phones


def test_nobody_is_alerted_on_the_line_that_pressed() -> None:
    group = build_group()
    # A neighbour lists the calling household's line as their own number, and the household has a second
    # emergency line that the press came from.
    neighbour = replace(group.contact(2), phone=group.line(0))
    household = replace(group.household(0), emergency_lines=(group.line(0), "+867176999999"))
    found = replace(group.lookup(0), household=household,
                    neighbours=(neighbour, *group.neighbours_of(0)[1:]))
    plan = plan_fan_out(found, shipped_policy(), "+867176999999")
    phones = {p.recipient.phone for lv in plan.levels for p in lv.recipients}
    assert group.line(0) not in phones
    assert "+867176999999" not in phones
    # The caller number is skipped even when the directory does not list it as a line.
    other = replace(group.lookup(0), neighbours=(replace(group.contact(2), phone=mobile(4242)),))
    plan = plan_fan_out(other, shipped_policy(), mobile(4242))
    assert plan.levels[0].recipients[0].recipient.role == "grid_worker"


def test_a_person_in_two_roles_on_one_level_is_alerted_once_on_both_channels() -> None:
    group = with_grid_worker_as_neighbour(build_group())
    plan = plan_fan_out(group.lookup(0), shipped_policy(), group.line(0))

    entries = [p for p in plan.levels[0].recipients if p.recipient.phone == group.grid_worker.phone]
    assert len(entries) == 1
    assert entries[0].channels == (CALL, SMS)
    # Alerted in the senior role, so that their "1" meets a grid-worker quorum.
    assert entries[0].recipient.role == "grid_worker"
    assert entries[0].recipient.responder_id == group.grid_worker.id
    assert len(plan.levels[0].recipients) == 13


def test_channels_merge_in_target_order_without_repeats() -> None:
    group = build_group()
    volunteer = group.role(Role.VOLUNTEER)[0]
    also_centre = Responder(id=77, name=volunteer.name, phone=volunteer.phone,
                            role=Role.GRID_CENTRE_HOUSEHOLD, scope=ScopeLevel.GRID, scope_id=111)
    found = replace(group.lookup(0), upper_levels=(*group.upper_levels, also_centre))
    policy = EscalationPolicy(levels=(Level("only", (
        Target(Role.VOLUNTEER, (SMS,)), Target(Role.GRID_CENTRE_HOUSEHOLD, (CALL, SMS)),
    ), None),))
    level = plan_fan_out(found, policy, group.line(0)).levels[0]
    # Channels in the order the targets list them; the role later in the climbing order wins.
    assert _by_phone(level)[volunteer.phone] == ("volunteer", (SMS, CALL))


def test_an_unknown_caller_has_no_recipients_on_any_level() -> None:
    plan = plan_fan_out(None, shipped_policy(), "+8615900000000")
    assert [(lv.index, lv.name, lv.recipients, lv.operators, lv.urgent) for lv in plan.levels] == [
        (0, "联防组", (), True, False), (1, "网格", (), False, False), (2, "村站和乡镇", (), False, False),
        (3, "派出所", (), False, True)]


def test_a_role_missing_from_the_directory_leaves_the_level_empty() -> None:
    group = build_group()
    found = replace(group.lookup(0), upper_levels=tuple(r for r in group.upper_levels
                                                        if r.role is not Role.POLICE_STATION))
    plan = plan_fan_out(found, shipped_policy(), group.line(0))
    assert plan.levels[3].recipients == ()
    assert plan.levels[3].urgent


def test_plan_lookup_out_of_range() -> None:
    plan = FanOutPlan(())
    assert plan.level(0) is None
    assert plan.level(-1) is None
    assert plan.recipient("+8613900000000") is None
    full = plan_fan_out(None, shipped_policy(), "x")
    assert full.level(3) is not None
    assert full.level(4) is None

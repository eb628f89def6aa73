"""Opening an incident and climbing the escalation levels on the timer, or on repeated presses."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from factories import PRESS_AT, Scene, open_scene, open_unknown_caller

from callcenter.domain.incident import IncidentError
from callcenter.domain.types import Actor, CallerTrust, Channel, IncidentStatus, LegPurpose, LegStatus
from contacts.model import Role

CALL, SMS = Channel.CALL, Channel.SMS


def _seconds(s: float) -> datetime:
    return PRESS_AT + timedelta(seconds=s)


def _alerts(scene: Scene, level: int) -> set[tuple[str, str, Channel]]:
    return {(leg.recipient.phone, leg.recipient.role, leg.channel) for leg in scene.legs(level=level)}


def test_opening_plans_level_0_at_once() -> None:
    scene = open_scene()
    incident = scene.incident
    group = scene.group

    assert incident.status is IncidentStatus.ALERTING
    assert (incident.level, incident.escalation_token, incident.next_escalation_at) == (0, 1, _seconds(60))
    assert (incident.press_count, incident.last_press_at, incident.urgent) == (1, PRESS_AT, False)
    expected = {(r.phone, "household_contact", ch) for r in group.neighbours_of(0) for ch in (CALL, SMS)}
    expected.add((group.grid_worker.phone, "grid_worker", SMS))
    assert _alerts(scene, 0) == expected
    assert len(incident.legs) == 25
    for leg in incident.legs.values():
        assert (leg.purpose, leg.attempt, leg.status, leg.due_at, leg.created_at) == (
            LegPurpose.ALERT, 1, LegStatus.PENDING, PRESS_AT, PRESS_AT)
    assert incident.pending_legs() == list(incident.legs.values())


def test_opening_records_who_pressed_and_the_first_level() -> None:
    scene = open_scene()
    opened, entered = scene.events("opened")[0], scene.events("level_entered")[0]
    assert opened.actor == "household:三组 张建国家"
    assert opened.data == {"caller": scene.group.line(0), "household_id": 101, "trust": CallerTrust.REGISTERED}
    assert entered.data == {"level": 0, "name": "联防组", "next_escalation_at": _seconds(60)}
    planned = scene.events("leg_planned")
    assert len(planned) == 25
    first = scene.group.contact(1)
    assert planned[0].data == {
        "leg": f"inc-0001/{first.phone}/call/alert/1", "recipient": first.name, "role": "household_contact",
        "channel": CALL, "purpose": LegPurpose.ALERT, "attempt": 1, "due_at": PRESS_AT}
    assert [e.kind for e in scene.incident.new_events[:2]] == ["opened", "level_entered"]


def test_nobody_answers_and_the_chain_climbs_to_the_police() -> None:
    scene = open_scene()
    group = scene.group

    scene.at(60)
    assert scene.escalate(1, token=1)
    assert (scene.incident.level, scene.incident.escalation_token) == (1, 2)
    assert scene.incident.next_escalation_at == _seconds(180)
    grid_roles = (Role.GRID_WORKER, Role.GRID_CENTRE_HOUSEHOLD, Role.VOLUNTEER)
    assert _alerts(scene, 1) == {(r.phone, str(r.role), CALL) for r in group.upper_levels
                                 if r.role in grid_roles}
    assert all(leg.due_at == _seconds(60) and leg.attempt == 1 for leg in scene.legs(level=1))

    scene.at(180)
    assert scene.escalate(2, token=2)
    assert scene.incident.next_escalation_at == _seconds(300)
    station, township = group.role(Role.VILLAGE_STATION)[0], group.role(Role.TOWNSHIP_DUTY_OFFICER)[0]
    assert _alerts(scene, 2) == {(station.phone, "village_station", CALL),
                                 (township.phone, "township_duty_officer", CALL)}
    assert not scene.incident.urgent

    scene.mark()
    scene.at(300)
    assert scene.escalate(3, token=3)
    police = group.role(Role.POLICE_STATION)[0]
    assert _alerts(scene, 3) == {(police.phone, "police_station", CALL)}
    assert scene.legs(level=3)[0].due_at == _seconds(300)
    assert scene.incident.urgent
    assert scene.incident.next_escalation_at is None
    assert [e.data["reason"] for e in scene.events_since_mark("urgent")] == ["escalation reached 派出所"]
    assert [e.data["level"] for e in scene.events("level_entered")] == [0, 1, 2, 3]

    # The top of the chain: no timer is expected any more.
    scene.at(900)
    assert not scene.escalate(4)
    assert scene.incident.level == 3
    assert len(scene.incident.legs) == 25 + 4 + 2 + 1


def test_the_grid_worker_gets_a_call_at_level_1_after_the_sms_at_level_0() -> None:
    scene = open_scene()
    phone = scene.group.grid_worker.phone
    scene.at(60)
    scene.escalate(1)
    assert [(leg.channel, leg.level) for leg in scene.legs(phone=phone)] == [(SMS, 0), (CALL, 1)]


@pytest.mark.parametrize(("at", "level", "token"), [
    (59, 1, 1),  # too early
    (60, 2, 1),  # wrong level
    (60, 0, 1),  # the level it is already on
    (60, 1, 0),  # a token from before the incident opened
    (60, 1, 2),  # a token from the future
])
def test_a_timer_that_does_not_match_the_state_is_a_no_op(at: float, level: int, token: int) -> None:
    scene = open_scene()
    scene.at(at)
    incident = scene.incident
    before = (len(incident.legs), len(incident.new_events), incident.escalation_token)
    assert not scene.escalate(level, token=token)
    assert incident.level == 0
    assert (len(incident.legs), len(incident.new_events), incident.escalation_token) == before


def test_a_duplicate_or_late_timer_after_climbing_is_a_no_op() -> None:
    scene = open_scene()
    scene.at(60)
    assert scene.escalate(1, token=1)
    legs = len(scene.incident.legs)
    assert not scene.escalate(1, token=1)  # the same timer fired twice
    scene.at(400)
    assert not scene.escalate(2, token=1)  # the old token, even when late enough
    assert (scene.incident.level, len(scene.incident.legs)) == (1, legs)
    assert scene.escalate(2, token=2)


def test_a_timer_after_the_incident_closed_is_a_no_op() -> None:
    scene = open_scene()
    scene.incident.resolve(Actor("operator", "李调度"), scene.at(30))
    scene.at(60)
    assert not scene.escalate(1, token=1)
    assert not scene.escalate(1)
    assert scene.incident.level == 0


def test_a_repeated_press_jumps_one_level_and_restarts_the_wait() -> None:
    scene = open_scene()
    scene.mark()
    scene.incident.press_again(scene.at(20), scene.policy, trust=CallerTrust.REGISTERED)

    incident = scene.incident
    assert (incident.press_count, incident.last_press_at) == (2, _seconds(20))
    assert (incident.level, incident.escalation_token) == (1, 2)
    assert incident.next_escalation_at == _seconds(140)
    assert len(scene.legs(level=1)) == 4
    assert all(leg.due_at == _seconds(20) for leg in scene.legs(level=1))
    pressed = scene.events_since_mark("pressed_again")
    assert [(e.actor, e.data) for e in pressed] == [("household:三组 张建国家", {"press_count": 2})]
    # The level-1 timer set at the press is stale now.
    scene.at(60)
    assert not scene.escalate(1, token=1)
    assert not scene.escalate(2, token=2)  # too early: level 2 is due at 140 s
    scene.at(140)
    assert scene.escalate(2, token=2)


def test_repeated_presses_stop_at_the_last_level_but_are_counted() -> None:
    scene = open_scene()
    for second in (10, 20, 30, 40, 50):
        scene.incident.press_again(scene.at(second), scene.policy, trust=CallerTrust.REGISTERED)
    assert scene.incident.press_count == 6
    assert scene.incident.level == 3
    assert scene.incident.urgent
    assert [e.data["level"] for e in scene.events("level_entered")] == [0, 1, 2, 3]
    assert len(scene.legs(level=3)) == 1


def test_a_jump_of_two_levels_alerts_the_level_passed_on_the_way() -> None:
    policy = replace(open_scene().policy, repeat_press_jump=2)
    scene = open_scene(policy=policy)
    scene.incident.press_again(scene.at(5), policy, trust=CallerTrust.REGISTERED)
    assert scene.incident.level == 2
    assert len(scene.legs(level=1)) == 4
    assert len(scene.legs(level=2)) == 2
    assert [e.data["level"] for e in scene.events("level_entered")] == [0, 1, 2]
    assert scene.incident.next_escalation_at == _seconds(125)


def test_a_jump_of_zero_levels_only_counts_the_press() -> None:
    policy = replace(open_scene().policy, repeat_press_jump=0)
    scene = open_scene(policy=policy)
    scene.incident.press_again(scene.at(5), policy, trust=CallerTrust.REGISTERED)
    assert (scene.incident.press_count, scene.incident.level, scene.incident.escalation_token) == (2, 0, 1)


def test_a_press_on_a_closed_incident_is_refused() -> None:
    scene = open_scene()
    scene.incident.cancel(Actor("household", "三组 张建国家"), scene.at(10))
    with pytest.raises(IncidentError, match="is cancelled"):
        scene.incident.press_again(scene.at(20), scene.policy, trust=CallerTrust.REGISTERED)
    assert scene.incident.press_count == 1


def test_an_unknown_caller_is_urgent_at_once_with_nobody_to_alert() -> None:
    scene = open_unknown_caller("+8615900000000")
    incident = scene.incident
    assert incident.is_unknown_caller
    assert incident.urgent
    assert incident.legs == {}
    assert incident.level == 0
    assert incident.plan.levels[0].operators
    assert [(e.kind, e.actor) for e in incident.new_events] == [
        ("opened", "caller:+8615900000000"), ("urgent", "system"), ("level_entered", "system")]
    assert scene.events("urgent")[0].data == {"reason": "unknown caller: no household has this line"}
    assert scene.events("opened")[0].data == {"caller": "+8615900000000", "household_id": None,
                                              "trust": CallerTrust.REGISTERED}


def test_an_unknown_caller_still_climbs_so_the_console_shows_each_step() -> None:
    scene = open_unknown_caller()
    scene.at(60)
    assert scene.escalate(1)
    assert scene.incident.level == 1
    assert scene.incident.legs == {}

"""Household and operator commands: cancel, false alarm, resolve, emergency type, notes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from factories import Scene, open_scene

from callcenter.domain.incident import IncidentError
from callcenter.domain.types import Actor, CallerTrust, Channel, EmergencyType, IncidentStatus, LegPurpose, LegStatus

CALL, SMS = Channel.CALL, Channel.SMS
S = LegStatus
HOUSEHOLD = Actor("household", "三组 张建国家")
OPERATOR = Actor("operator", "李调度")


def _some_legs_placed(scene: Scene) -> set[str]:
    """Two neighbours rung, the grid worker texted; everyone else still waiting. Returns who was alerted."""
    a, b, worker = scene.group.contact(1), scene.group.contact(2), scene.group.grid_worker
    scene.at(3)
    scene.report(scene.leg(a.phone, CALL), S.DIALING, S.RINGING)
    scene.report(scene.leg(b.phone, CALL), S.DIALING, S.NO_ANSWER)
    scene.report(scene.leg(worker.phone, SMS), S.SUBMITTED, S.DELIVERED)
    return {a.phone, b.phone, worker.phone}


def test_the_household_cancels_and_everyone_alerted_hears_so() -> None:
    scene = open_scene()
    alerted = _some_legs_placed(scene)
    b = scene.group.contact(2)
    redial = scene.leg(b.phone, CALL, attempt=2)
    scene.mark()
    scene.at(20)
    scene.incident.cancel(HOUSEHOLD, scene.now)

    incident = scene.incident
    assert (incident.status, incident.closed_at, incident.next_escalation_at) == (
        IncidentStatus.CANCELLED, scene.now, None)
    assert incident.escalation_token == 2
    assert (redial.status, redial.detail) == (S.CANCELLED, "incident cancelled")
    assert scene.legs(status=S.PENDING) == []
    assert len(scene.legs(status=S.CANCELLED)) == 25 - 3 + 1
    assert scene.leg(scene.group.contact(1).phone, CALL).status is S.RINGING  # in flight: the channel ends it
    notes = scene.legs(LegPurpose.CANCELLATION)
    assert {leg.recipient.phone for leg in notes} == alerted
    for leg in notes:
        assert (leg.channel, leg.attempt, leg.status, leg.due_at) == (SMS, 1, S.PENDING, scene.now)
    closed = scene.events_since_mark("cancelled")
    assert [(e.actor, e.data) for e in closed] == [
        ("household:三组 张建国家", {"previous": IncidentStatus.ALERTING})]


def test_cancelling_before_anyone_was_reached_sends_no_text() -> None:
    scene = open_scene()
    scene.incident.cancel(HOUSEHOLD, scene.at(2))
    assert scene.legs(LegPurpose.CANCELLATION) == []
    assert all(leg.status is S.CANCELLED for leg in scene.incident.legs.values())


def test_cancelling_after_help_was_confirmed_tells_the_helpers_too() -> None:
    scene = open_scene()
    scene.place_all_due()
    a, b = scene.group.contact(1), scene.group.contact(2)
    scene.report(scene.leg(a.phone, CALL), S.ACKNOWLEDGED)
    scene.report(scene.leg(b.phone, CALL), S.ACKNOWLEDGED)
    scene.incident.cancel(HOUSEHOLD, scene.at(40))
    notes = scene.legs(LegPurpose.CANCELLATION)
    assert len(notes) == 13  # every neighbour and the grid worker, those coming included
    assert {a.phone, b.phone} <= {leg.recipient.phone for leg in notes}
    assert scene.events("cancelled")[0].data == {"previous": IncidentStatus.ACKNOWLEDGED}


def test_a_false_alarm_closes_and_texts_everyone_alerted() -> None:
    scene = open_scene()
    alerted = _some_legs_placed(scene)
    scene.incident.mark_false_alarm(OPERATOR, scene.at(30))
    assert scene.incident.status is IncidentStatus.FALSE_ALARM
    assert {leg.recipient.phone for leg in scene.legs(LegPurpose.CANCELLATION)} == alerted
    assert [e.actor for e in scene.events("false_alarm")] == ["operator:李调度"]


def test_an_operator_resolves_with_a_note_and_no_texts() -> None:
    scene = open_scene()
    _some_legs_placed(scene)
    scene.incident.resolve(OPERATOR, scene.at(600), note="网格员已到场，老人送医")
    assert (scene.incident.status, scene.incident.closed_at) == (IncidentStatus.RESOLVED, scene.now)
    assert not scene.incident.status.is_open
    assert scene.legs(LegPurpose.CANCELLATION) == []
    assert scene.legs(status=S.PENDING) == []
    resolved = scene.events("resolved")[0]
    assert (resolved.actor, resolved.data) == (
        "operator:李调度", {"previous": IncidentStatus.ALERTING, "note": "网格员已到场，老人送医"})


COMMANDS: dict[str, Callable[[Scene], object]] = {
    "cancel": lambda s: s.incident.cancel(HOUSEHOLD, s.now),
    "false alarm": lambda s: s.incident.mark_false_alarm(OPERATOR, s.now),
    "resolve": lambda s: s.incident.resolve(OPERATOR, s.now),
    "set type": lambda s: s.incident.set_type(EmergencyType.FIRE, OPERATOR, s.now),
    "acknowledge on behalf": lambda s: s.incident.acknowledge_on_behalf(
        s.group.contact(1).phone, OPERATOR, s.now, s.policy),
    "press again": lambda s: s.incident.press_again(s.now, s.policy, trust=CallerTrust.REGISTERED),
}


@pytest.mark.parametrize("closing", ["cancel", "false alarm", "resolve"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_commands_on_a_closed_incident_are_refused(closing: str, command: str) -> None:
    scene = open_scene()
    COMMANDS[closing](scene)
    status = scene.incident.status
    scene.at(30)
    legs, events = len(scene.incident.legs), len(scene.incident.new_events)
    with pytest.raises(IncidentError, match=f"incident inc-0001 is {status}"):
        COMMANDS[command](scene)
    assert scene.incident.status is status
    assert (len(scene.incident.legs), len(scene.incident.new_events)) == (legs, events)


def test_set_type_records_the_change_once() -> None:
    scene = open_scene()
    assert scene.events("type_set") == []
    scene.incident.set_type(EmergencyType.MEDICAL, OPERATOR, scene.at(45))
    scene.incident.set_type(EmergencyType.MEDICAL, OPERATOR, scene.at(50))
    assert scene.incident.emergency_type is EmergencyType.MEDICAL
    assert [(e.at, e.actor, e.data) for e in scene.events("type_set")] == [
        (scene.clock.start + timedelta(seconds=45), "operator:李调度",
         {"previous": EmergencyType.UNKNOWN, "type": EmergencyType.MEDICAL})]


def test_the_type_may_change_after_help_was_confirmed() -> None:
    scene = open_scene()
    scene.report(scene.leg(scene.group.grid_worker.phone, SMS), S.ACKNOWLEDGED)
    scene.incident.set_type(EmergencyType.THEFT, OPERATOR, scene.at(60))
    assert scene.incident.emergency_type is EmergencyType.THEFT


def test_notes_are_trimmed_and_kept_even_after_closing() -> None:
    scene = open_scene()
    scene.incident.add_note("  老人独居，钥匙在邻居王家  ", OPERATOR, scene.at(10))
    scene.incident.resolve(OPERATOR, scene.at(20))
    scene.incident.add_note("事后回访：已出院", OPERATOR, scene.at(3600))
    assert [(e.actor, e.data["text"]) for e in scene.events("note")] == [
        ("operator:李调度", "老人独居，钥匙在邻居王家"), ("operator:李调度", "事后回访：已出院")]


def test_a_note_is_cut_at_2000_characters_and_needs_text() -> None:
    scene = open_scene()
    scene.incident.add_note("记" * 2500, OPERATOR, scene.now)
    assert len(scene.events("note")[0].data["text"]) == 2000
    with pytest.raises(IncidentError, match="a note needs text"):
        scene.incident.add_note(" \n ", OPERATOR, scene.now)
    assert len(scene.events("note")) == 1


def test_actors_read_as_kind_and_name() -> None:
    assert str(OPERATOR) == "operator:李调度"
    assert str(Actor("system")) == "system"


def test_a_voice_message_is_kept_on_the_timeline_even_after_closing() -> None:
    scene = open_scene()
    scene.incident.attach_voice_message(" var/recordings/a.wav ", 12.34, HOUSEHOLD, scene.at(30))
    scene.incident.cancel(HOUSEHOLD, scene.at(40))
    scene.incident.attach_voice_message("var/recordings/b.wav", 3, HOUSEHOLD, scene.at(50))
    assert [(e.actor, e.data) for e in scene.events("voice_message")] == [
        ("household:三组 张建国家", {"path": "var/recordings/a.wav", "seconds": 12.3}),
        ("household:三组 张建国家", {"path": "var/recordings/b.wav", "seconds": 3})]


@pytest.mark.parametrize(("path", "seconds", "error"), [
    (" ", 5.0, "needs the path"), ("a.wav", -1.0, "cannot last -1.0 seconds"),
    ("a.wav", float("nan"), "cannot last nan seconds")])
def test_a_voice_message_needs_a_path_and_a_sane_duration(path: str, seconds: float, error: str) -> None:
    scene = open_scene()
    with pytest.raises(IncidentError, match=error):
        scene.incident.attach_voice_message(path, seconds, HOUSEHOLD, scene.now)
    assert scene.events("voice_message") == []

"""Acknowledgements and quorum: when enough responders press 1 the chain stops and the others stand down."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import PRESS_AT, build_group, open_scene, with_grid_worker_as_neighbour

from callcenter.domain.incident import IncidentError, leg_id
from callcenter.domain.types import Actor, Channel, IncidentStatus, LegPurpose, LegStatus

CALL, SMS = Channel.CALL, Channel.SMS
S = LegStatus
OPERATOR = Actor("operator", "李调度")


def test_two_neighbours_pressing_1_meet_the_quorum() -> None:
    scene = open_scene()
    group, incident = scene.group, scene.incident
    a, b, c = group.contact(1), group.contact(2), group.contact(3, 1)
    scene.place_all_due()  # every level-0 leg is handed to its channel at the press

    scene.at(5)
    assert scene.report(scene.leg(c.phone, CALL), S.RINGING, S.BUSY) == [True, True]
    redial = scene.leg(c.phone, CALL, attempt=2)
    assert (redial.status, redial.due_at) == (S.PENDING, PRESS_AT + timedelta(seconds=35))

    scene.at(12)
    scene.report(scene.leg(a.phone, CALL), S.RINGING, S.ANSWERED, S.ACKNOWLEDGED)
    assert scene.events("quorum_met") == []
    assert [(ack.recipient.phone, ack.via) for ack in incident.acks] == [
        (a.phone, leg_id("inc-0001", a.phone, CALL, LegPurpose.ALERT, 1))]

    scene.mark()
    scene.at(15)
    scene.report(scene.leg(b.phone, CALL), S.ANSWERED, S.ACKNOWLEDGED)

    assert incident.status is IncidentStatus.ACKNOWLEDGED
    assert incident.next_escalation_at is None
    assert incident.escalation_token == 2
    assert [ack.recipient.phone for ack in incident.acks] == [a.phone, b.phone]
    assert redial.status is S.CANCELLED
    assert redial.detail == "quorum met"
    quorum = scene.events_since_mark("quorum_met")
    assert [(e.at, e.actor, e.data) for e in quorum] == [
        (scene.now, "system", {"acknowledged_by": [a.name, b.name]})]
    acknowledged = scene.events_since_mark("acknowledged")
    assert [(e.actor, e.data["role"], e.data["count"]) for e in acknowledged] == [
        (f"responder:{b.name}", "household_contact", 2)]

    # Everyone else who was alerted hears that help is on its way, by SMS, once.
    help_coming = scene.legs(LegPurpose.HELP_COMING)
    others = {r.phone for r in group.neighbours_of(0)} - {a.phone, b.phone} | {group.grid_worker.phone}
    assert {leg.recipient.phone for leg in help_coming} == others
    assert len(help_coming) == len(others) == 11
    for leg in help_coming:
        assert (leg.channel, leg.attempt, leg.status, leg.due_at, leg.level) == (
            SMS, 1, S.PENDING, scene.now, 0)


def test_after_quorum_the_old_timer_and_late_outcomes_change_nothing() -> None:
    scene = open_scene()
    scene.place_all_due()
    a, b, c = scene.group.contact(1), scene.group.contact(2), scene.group.contact(4)
    scene.report(scene.leg(a.phone, SMS), S.DELIVERED, S.ACKNOWLEDGED)
    scene.report(scene.leg(b.phone, CALL), S.ACKNOWLEDGED)
    assert scene.incident.status is IncidentStatus.ACKNOWLEDGED
    legs = len(scene.incident.legs)

    scene.at(60)
    assert not scene.escalate(1, token=1)
    assert scene.incident.level == 0
    # A call still ringing ends unanswered: no redial now that help is coming.
    assert scene.report(scene.leg(c.phone, CALL), S.NO_ANSWER) == [True]
    assert len(scene.incident.legs) == legs
    # A third responder who presses 1 late is still counted, without a second quorum.
    scene.report(scene.leg(scene.group.contact(5).phone, CALL), S.ACKNOWLEDGED)
    assert len(scene.incident.acks) == 3
    assert len(scene.events("quorum_met")) == 1
    assert len(scene.incident.legs) == legs


def test_the_grid_worker_alone_meets_the_quorum_by_replying_1() -> None:
    scene = open_scene()
    scene.place_all_due()
    worker = scene.group.grid_worker
    sms = scene.leg(worker.phone, SMS)

    scene.at(20)
    assert scene.report(sms, S.DELIVERED, S.ACKNOWLEDGED) == [True, True]
    assert scene.incident.status is IncidentStatus.ACKNOWLEDGED
    assert [(a.recipient.role, a.via) for a in scene.incident.acks] == [("grid_worker", sms.id)]
    assert scene.events("quorum_met")[0].data == {"acknowledged_by": [worker.name]}
    assert worker.phone not in {leg.recipient.phone for leg in scene.legs(LegPurpose.HELP_COMING)}
    assert len(scene.legs(LegPurpose.HELP_COMING)) == 12


def test_the_grid_worker_meets_the_quorum_on_the_level_1_call() -> None:
    scene = open_scene()
    scene.at(60)
    scene.escalate(1)
    call = scene.leg(scene.group.grid_worker.phone, CALL)
    scene.report(call, S.DIALING, S.RINGING, S.ANSWERED, S.ACKNOWLEDGED)
    assert scene.incident.status is IncidentStatus.ACKNOWLEDGED
    # Legs still waiting for the dispatcher are dropped and never counted as alerted.
    assert all(leg.status is S.CANCELLED for leg in scene.legs(status=None) if leg.id != call.id)
    assert scene.legs(LegPurpose.HELP_COMING) == []


def test_a_grid_worker_who_is_also_a_neighbours_contact_meets_the_quorum_alone() -> None:
    scene = open_scene(group=with_grid_worker_as_neighbour(build_group()))
    worker = scene.group.grid_worker
    call = scene.leg(worker.phone, CALL)
    assert call.recipient.role == "grid_worker"
    scene.report(call, S.DIALING, S.ACKNOWLEDGED)
    assert scene.incident.status is IncidentStatus.ACKNOWLEDGED


def test_one_neighbour_is_not_a_quorum_even_on_two_channels() -> None:
    scene = open_scene()
    scene.place_all_due()
    a = scene.group.contact(1)
    scene.report(scene.leg(a.phone, CALL), S.ACKNOWLEDGED)
    scene.report(scene.leg(a.phone, SMS), S.DELIVERED, S.ACKNOWLEDGED)
    assert len(scene.incident.acks) == 1
    assert len(scene.events("acknowledged")) == 1
    assert scene.incident.status is IncidentStatus.ALERTING


def test_a_responder_who_acknowledged_is_not_called_again() -> None:
    scene = open_scene()
    scene.place_all_due()
    a = scene.group.contact(1)
    scene.report(scene.leg(a.phone, SMS), S.UNDELIVERED)
    resend = scene.leg(a.phone, SMS, attempt=2)
    assert resend.status is S.PENDING
    scene.report(scene.leg(a.phone, CALL), S.ACKNOWLEDGED)
    assert (resend.status, resend.detail) == (S.CANCELLED, "already acknowledged")
    # Nor on the next level that lists them.
    scene.at(60)
    scene.escalate(1)
    assert scene.legs(phone=a.phone, level=1) == []


def test_an_operator_acknowledges_on_behalf_and_it_counts_towards_the_quorum() -> None:
    scene = open_scene()
    scene.place_all_due()
    a, b = scene.group.contact(1), scene.group.contact(2)

    scene.at(30)
    scene.incident.acknowledge_on_behalf(a.phone, OPERATOR, scene.now, scene.policy)
    assert [(ack.recipient.name, ack.via, ack.at) for ack in scene.incident.acks] == [
        (a.name, "operator:李调度", scene.now)]
    assert scene.events("acknowledged")[0].data == {"role": "household_contact", "via": "operator:李调度",
                                                    "count": 1}
    scene.report(scene.leg(b.phone, CALL), S.ACKNOWLEDGED)
    assert scene.incident.status is IncidentStatus.ACKNOWLEDGED
    # Acknowledging the same person twice changes nothing.
    scene.incident.acknowledge_on_behalf(a.phone, OPERATOR, scene.now, scene.policy)
    assert len(scene.incident.acks) == 2


def test_an_operator_may_acknowledge_for_someone_on_a_level_not_reached_yet() -> None:
    scene = open_scene()
    police = scene.incident.plan.levels[3].recipients[0].recipient
    scene.incident.acknowledge_on_behalf(police.phone, OPERATOR, scene.at(10), scene.policy)
    assert scene.incident.acks[0].recipient == police
    scene.at(60)
    scene.escalate(1)
    scene.at(180)
    scene.escalate(2)
    scene.at(300)
    scene.escalate(3)
    assert scene.legs(level=3) == []  # the police already said they are coming


def test_acknowledging_someone_not_in_the_plan_is_refused() -> None:
    scene = open_scene()
    own = scene.group.contact(0)
    with pytest.raises(IncidentError, match="is not a responder of incident inc-0001"):
        scene.incident.acknowledge_on_behalf(own.phone, OPERATOR, scene.now, scene.policy)
    assert scene.incident.acks == []


def test_a_reply_to_the_help_coming_text_is_not_an_acknowledgement() -> None:
    scene = open_scene()
    scene.place_all_due()
    scene.report(scene.leg(scene.group.grid_worker.phone, SMS), S.ACKNOWLEDGED)
    c = scene.group.contact(3)
    note = scene.leg(c.phone, SMS, purpose=LegPurpose.HELP_COMING)
    assert scene.report(note, S.SUBMITTED, S.DELIVERED, S.ACKNOWLEDGED) == [True, True, True]
    assert note.status is S.ACKNOWLEDGED
    assert [a.recipient.role for a in scene.incident.acks] == ["grid_worker"]

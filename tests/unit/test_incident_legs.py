"""Alert legs: outcomes from the channels, redials, interruptions and idempotency keys."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from factories import PRESS_AT, open_scene

from callcenter.domain.incident import AlertLeg, IncidentError, leg_id
from callcenter.domain.policy import EscalationPolicy, Level, Target
from callcenter.domain.types import Actor, Channel, IncidentStatus, LegPurpose, LegStatus
from contacts.model import Role

CALL, SMS = Channel.CALL, Channel.SMS
S = LegStatus


def _seconds(s: float) -> datetime:
    return PRESS_AT + timedelta(seconds=s)


def _attempts(legs: list[AlertLeg]) -> list[tuple[int, LegStatus, datetime]]:
    return [(leg.attempt, leg.status, leg.due_at) for leg in sorted(legs, key=lambda leg: leg.attempt)]


def test_busy_then_no_answer_then_acknowledged_on_the_third_attempt() -> None:
    scene = open_scene()
    phone = scene.group.contact(1).phone

    scene.at(2)
    scene.report(scene.leg(phone, CALL), S.DIALING)
    scene.mark()
    scene.at(5)
    assert scene.report(scene.leg(phone, CALL), S.BUSY) == [True]
    second = scene.leg(phone, CALL, attempt=2)
    assert (second.status, second.due_at, second.created_at, second.level) == (
        S.PENDING, _seconds(35), _seconds(5), 0)
    assert second.id == f"inc-0001/{phone}/call/alert/2"
    planned = scene.events_since_mark("leg_planned")
    assert [(e.data["attempt"], e.data["due_at"]) for e in planned] == [(2, _seconds(35))]

    scene.at(35)
    scene.report(second, S.DIALING, S.RINGING)
    scene.at(65)
    scene.report(second, S.NO_ANSWER)
    third = scene.leg(phone, CALL, attempt=3)
    assert third.due_at == _seconds(95)

    scene.at(95)
    scene.report(third, S.DIALING, S.ANSWERED, S.ACKNOWLEDGED)
    assert _attempts(scene.legs(phone=phone, channel=CALL)) == [
        (1, S.BUSY, _seconds(0)), (2, S.NO_ANSWER, _seconds(35)), (3, S.ACKNOWLEDGED, _seconds(95))]
    assert [a.via for a in scene.incident.acks] == [third.id]


def test_a_call_is_redialled_at_most_twice() -> None:
    scene = open_scene()
    phone = scene.group.contact(1).phone
    for attempt, outcome in ((1, S.NO_ANSWER), (2, S.FAILED), (3, S.BUSY)):
        scene.report(scene.leg(phone, CALL, attempt), S.DIALING, outcome)
        scene.clock.advance(30)
    assert [leg.attempt for leg in scene.legs(phone=phone, channel=CALL)] == [1, 2, 3]
    assert scene.legs(phone=phone, status=S.PENDING, channel=CALL) == []


def test_the_redial_limit_comes_from_the_policy() -> None:
    policy = replace(open_scene().policy, redial=replace(open_scene().policy.redial, max_redials=0))
    scene = open_scene(policy=policy)
    phone = scene.group.contact(1).phone
    scene.report(scene.leg(phone, CALL), S.BUSY)
    assert len(scene.legs(phone=phone, channel=CALL)) == 1


def test_declined_is_not_redialled() -> None:
    scene = open_scene()
    phone = scene.group.contact(1).phone
    scene.report(scene.leg(phone, CALL), S.DIALING, S.ANSWERED, S.DECLINED)
    assert len(scene.legs(phone=phone, channel=CALL)) == 1
    assert scene.incident.acks == []
    # Their SMS still goes out: a decline on one channel does not cancel the other.
    assert scene.leg(phone, SMS).status is S.PENDING


@pytest.mark.parametrize("outcome", [S.ANSWERED_WITHOUT_KEY, S.NO_ANSWER])
def test_voicemail_or_silence_never_counts_as_reached(outcome: LegStatus) -> None:
    scene = open_scene()
    phone = scene.group.contact(1).phone
    scene.report(scene.leg(phone, CALL), S.DIALING, S.RINGING, S.ANSWERED, outcome)
    assert scene.incident.acks == []
    assert scene.incident.status is IncidentStatus.ALERTING
    assert scene.leg(phone, CALL, attempt=2).status is S.PENDING
    assert scene.events("acknowledged") == []


@pytest.mark.parametrize("outcome", [S.FAILED, S.UNDELIVERED])
def test_an_sms_that_did_not_arrive_is_sent_again(outcome: LegStatus) -> None:
    scene = open_scene()
    phone = scene.group.contact(2).phone
    scene.at(3)
    scene.report(scene.leg(phone, SMS), S.SUBMITTED, outcome)
    again = scene.leg(phone, SMS, attempt=2)
    assert (again.status, again.due_at, again.purpose) == (S.PENDING, _seconds(33), LegPurpose.ALERT)


def test_a_delivered_sms_is_not_sent_again_and_a_reply_acknowledges() -> None:
    scene = open_scene()
    phone = scene.group.contact(2).phone
    sms = scene.leg(phone, SMS)
    assert scene.report(sms, S.SUBMITTED, S.DELIVERED) == [True, True]
    assert len(scene.legs(phone=phone, channel=SMS)) == 1
    assert scene.report(sms, S.ACKNOWLEDGED) == [True]
    assert [a.recipient.phone for a in scene.incident.acks] == [phone]


def test_a_reply_declining_after_delivery_is_recorded() -> None:
    scene = open_scene()
    sms = scene.leg(scene.group.contact(2).phone, SMS)
    assert scene.report(sms, S.DELIVERED, S.DECLINED) == [True, True]
    assert sms.status is S.DECLINED
    assert scene.incident.acks == []


@pytest.mark.parametrize(("first", "late"), [
    ([S.DIALING, S.RINGING, S.ANSWERED], S.RINGING),
    ([S.DIALING, S.RINGING], S.DIALING),
    ([S.DIALING], S.DIALING),
    ([S.ACKNOWLEDGED], S.BUSY),
    ([S.ACKNOWLEDGED], S.ACKNOWLEDGED),
    ([S.BUSY], S.NO_ANSWER),
    ([S.DECLINED], S.ACKNOWLEDGED),
    ([S.NO_ANSWER], S.ANSWERED),
])
def test_a_stale_or_duplicate_call_outcome_is_ignored(first: list[LegStatus], late: LegStatus) -> None:
    scene = open_scene()
    leg = scene.leg(scene.group.contact(1).phone, CALL)
    scene.report(leg, *first)
    legs, acks = len(scene.incident.legs), len(scene.incident.acks)
    scene.mark()
    assert scene.report(leg, late) == [False]
    assert leg.status is first[-1]
    assert (len(scene.incident.legs), len(scene.incident.acks)) == (legs, acks)
    assert scene.events_since_mark() == []  # nothing for the operators to read on the timeline


@pytest.mark.parametrize(("first", "late"), [
    ([S.UNDELIVERED], S.ACKNOWLEDGED),
    ([S.DELIVERED], S.SUBMITTED),
    ([S.DELIVERED], S.UNDELIVERED),
    ([S.DELIVERED, S.ACKNOWLEDGED], S.DECLINED),
])
def test_a_stale_sms_outcome_is_ignored(first: list[LegStatus], late: LegStatus) -> None:
    scene = open_scene()
    leg = scene.leg(scene.group.contact(1).phone, SMS)
    scene.report(leg, *first)
    assert scene.report(leg, late) == [False]
    assert leg.status is first[-1]


def test_a_cancelled_leg_takes_no_outcome() -> None:
    scene = open_scene()
    scene.incident.cancel(Actor("household"), scene.now)
    leg = scene.leg(scene.group.contact(1).phone, CALL)
    assert leg.status is S.CANCELLED
    assert scene.report(leg, S.DIALING) == [False]


@pytest.mark.parametrize(("channel", "outcome"), [
    (CALL, S.DELIVERED), (CALL, S.SUBMITTED), (CALL, S.UNDELIVERED), (CALL, S.PENDING), (CALL, S.CANCELLED),
    (SMS, S.BUSY), (SMS, S.RINGING), (SMS, S.ANSWERED_WITHOUT_KEY), (SMS, S.NO_ANSWER), (SMS, S.DIALING),
])
def test_an_outcome_the_channel_cannot_report_is_refused(channel: Channel, outcome: LegStatus) -> None:
    scene = open_scene()
    leg = scene.leg(scene.group.contact(1).phone, channel)
    with pytest.raises(IncidentError, match=f"{channel} leg cannot report {outcome}"):
        scene.report(leg, outcome)
    assert leg.status is S.PENDING


def test_an_outcome_for_an_unknown_leg_is_refused() -> None:
    scene = open_scene()
    with pytest.raises(IncidentError, match="incident inc-0001 has no leg inc-0001/x/call/alert/1"):
        scene.incident.record_outcome("inc-0001/x/call/alert/1", S.BUSY, scene.now, scene.policy)


def test_outcomes_keep_detail_and_provider_reference() -> None:
    scene = open_scene()
    leg = scene.leg(scene.group.contact(1).phone, CALL)
    scene.incident.record_outcome(leg.id, S.DIALING, scene.at(1), scene.policy, provider_ref="CA123")
    scene.incident.record_outcome(leg.id, S.FAILED, scene.at(4), scene.policy, detail="486 Busy Here")
    assert (leg.provider_ref, leg.detail, leg.updated_at) == ("CA123", "486 Busy Here", _seconds(4))
    assert leg.id in scene.incident.changed_legs
    status = scene.events("leg_status")[-1]
    assert status.data == {"leg": leg.id, "recipient": leg.recipient.name, "channel": CALL, "attempt": 1,
                           "status": S.FAILED, "detail": "486 Busy Here"}


def test_an_interrupted_leg_gets_a_fresh_attempt_that_is_not_a_redial() -> None:
    scene = open_scene()
    phone = scene.group.contact(1).phone
    first = scene.leg(phone, CALL)
    scene.report(first, S.DIALING, S.RINGING)

    scene.at(40)
    scene.incident.leg_interrupted(first.id, scene.now, scene.policy, "instance node-2 stopped")
    assert (first.status, first.detail, first.interrupted) == (S.FAILED, "instance node-2 stopped", True)
    fresh = scene.leg(phone, CALL, attempt=2)
    assert (fresh.status, fresh.due_at, fresh.interrupted) == (S.PENDING, _seconds(40), False)

    # The two redials the policy allows are still there after the interruption.
    for attempt in (2, 3, 4):
        scene.report(scene.leg(phone, CALL, attempt), S.DIALING, S.BUSY)
    assert _attempts(scene.legs(phone=phone, channel=CALL)) == [
        (1, S.FAILED, _seconds(0)), (2, S.BUSY, _seconds(40)), (3, S.BUSY, _seconds(70)),
        (4, S.BUSY, _seconds(70))]


def test_an_interruption_after_the_redials_still_gets_its_fresh_attempt() -> None:
    scene = open_scene()
    phone = scene.group.contact(1).phone
    scene.report(scene.leg(phone, CALL, 1), S.BUSY)
    scene.report(scene.leg(phone, CALL, 2), S.BUSY)
    third = scene.leg(phone, CALL, 3)
    scene.report(third, S.DIALING)
    scene.incident.leg_interrupted(third.id, scene.now, scene.policy, "restart")
    fourth = scene.leg(phone, CALL, 4)
    scene.report(fourth, S.NO_ANSWER)
    assert [leg.attempt for leg in scene.legs(phone=phone, channel=CALL)] == [1, 2, 3, 4]


def test_an_interrupted_leg_is_not_replaced_once_help_is_coming() -> None:
    scene = open_scene()
    scene.place_all_due()
    c = scene.group.contact(3)
    scene.report(scene.leg(scene.group.grid_worker.phone, SMS), S.ACKNOWLEDGED)
    ringing = scene.leg(c.phone, CALL)
    scene.incident.leg_interrupted(ringing.id, scene.now, scene.policy, "restart")
    assert ringing.status is S.FAILED
    assert len(scene.legs(phone=c.phone, channel=CALL)) == 1


def test_an_interrupted_leg_is_not_replaced_once_closed() -> None:
    scene = open_scene()
    scene.place_all_due()
    a = scene.group.contact(1)
    scene.incident.resolve(Actor("operator", "李调度"), scene.at(10))
    scene.incident.leg_interrupted(scene.leg(a.phone, CALL).id, scene.now, scene.policy, "restart")
    assert len(scene.legs(phone=a.phone, channel=CALL)) == 1


def test_an_interrupted_leg_of_someone_who_acknowledged_is_not_replaced() -> None:
    scene = open_scene()
    scene.place_all_due()
    a = scene.group.contact(1)
    scene.report(scene.leg(a.phone, CALL), S.ACKNOWLEDGED)
    sms = scene.leg(a.phone, SMS)
    scene.incident.leg_interrupted(sms.id, scene.now, scene.policy, "restart")
    assert len(scene.legs(phone=a.phone, channel=SMS)) == 1


def test_an_interrupted_notification_is_sent_again_after_closing() -> None:
    scene = open_scene()
    scene.place_all_due()
    a = scene.group.contact(1)
    scene.incident.cancel(Actor("household"), scene.at(10))
    note = scene.leg(a.phone, SMS, purpose=LegPurpose.CANCELLATION)
    scene.report(note, S.SUBMITTED)
    scene.incident.leg_interrupted(note.id, scene.at(20), scene.policy, "restart")
    again = scene.leg(a.phone, SMS, attempt=2, purpose=LegPurpose.CANCELLATION)
    assert (again.status, again.due_at) == (S.PENDING, _seconds(20))


def test_interrupting_a_finished_leg_is_a_no_op_and_an_unknown_leg_is_refused() -> None:
    scene = open_scene()
    leg = scene.leg(scene.group.contact(1).phone, CALL)
    scene.report(leg, S.DECLINED)
    events = len(scene.incident.new_events)
    scene.incident.leg_interrupted(leg.id, scene.now, scene.policy, "restart")
    assert (leg.status, leg.interrupted, len(scene.incident.new_events)) == (S.DECLINED, False, events)
    with pytest.raises(IncidentError, match="has no leg nope"):
        scene.incident.leg_interrupted("nope", scene.now, scene.policy, "restart")


def test_leg_ids_are_the_idempotency_key() -> None:
    scene = open_scene()
    assert leg_id("inc-1", "+8613900001010", CALL, LegPurpose.ALERT, 1) == "inc-1/+8613900001010/call/alert/1"
    keys = {leg_id(i, r, c, p, a) for i in ("inc-1", "inc-2") for r in ("+861", "+862") for c in Channel
            for p in LegPurpose for a in (1, 2)}
    assert len(keys) == 2 * 2 * 2 * len(LegPurpose) * 2
    for key, leg in scene.incident.legs.items():
        assert key == leg.id
        assert leg.id == leg_id(leg.incident_id, leg.recipient.key, leg.channel, leg.purpose, leg.attempt)


def _twice_to_grid_worker_by_sms() -> EscalationPolicy:
    base = open_scene().policy
    return replace(base, levels=(
        replace(base.levels[0], targets=(Target(Role.GRID_WORKER, (SMS,)),)),
        Level("网格", (Target(Role.GRID_WORKER, (SMS, CALL)),), None),
    ))


def test_a_leg_planned_again_on_a_later_level_is_not_duplicated() -> None:
    scene = open_scene(policy=_twice_to_grid_worker_by_sms())
    worker = scene.group.grid_worker.phone
    scene.report(scene.leg(worker, SMS), S.SUBMITTED, S.DELIVERED)
    scene.mark()
    scene.at(60)
    assert scene.escalate(1)
    assert [(leg.channel, leg.attempt, leg.level) for leg in scene.legs(phone=worker)] == [
        (SMS, 1, 0), (CALL, 1, 1)]
    assert [e.data["channel"] for e in scene.events_since_mark("leg_planned")] == [CALL]


def test_a_leg_still_in_flight_is_not_planned_again_by_the_next_level() -> None:
    scene = open_scene(policy=_twice_to_grid_worker_by_sms())
    worker = scene.group.grid_worker.phone
    scene.report(scene.leg(worker, SMS), S.FAILED)  # attempt 2 is waiting
    scene.at(60)
    scene.escalate(1)
    assert sorted((leg.channel, leg.attempt) for leg in scene.legs(phone=worker)) == [
        (CALL, 1), (SMS, 1), (SMS, 2)]

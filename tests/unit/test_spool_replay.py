"""Replay decisions: spooled records applied to an incident, idempotently, at their own times."""

from __future__ import annotations

from datetime import datetime, timedelta

from factories import PRESS_AT, Scene, open_scene

from callcenter.domain.incident import Incident
from callcenter.domain.types import Actor, CallerTrust, Channel, IncidentStatus, LegStatus
from callcenter.service.replay import (
    STORED_AFTER_OUTAGE,
    Replayed,
    claimed_record,
    opened_record,
    outcome_record,
    pressed_again_record,
    replay_incident,
)
from callcenter.service.spool import SpoolRecord

HOLDER = "node#000001"
LATER_BOOT = "node#000002"
REPLAYED_AT = PRESS_AT + timedelta(minutes=10)
OPERATOR = Actor("operator", "王值班")


def at(seconds: float) -> datetime:
    return PRESS_AT + timedelta(seconds=seconds)


def never_survives(provider: str) -> bool:
    return False


def spooled_press(scene: Scene) -> tuple[list[SpoolRecord], list[str]]:
    """What a degraded press writes: the incident and the level-0 legs it hands over at once."""
    incident = scene.incident
    legs = [leg.id for leg in incident.pending_legs()]
    claimed = claimed_record(incident.id, PRESS_AT, {leg: f"recording-{leg.split('/')[2]}" for leg in legs}, HOLDER)
    return [opened_record(incident, "h:1", HOLDER), claimed], legs


def replay(records: list[SpoolRecord], stored: Incident | None, scene: Scene, holder: str = HOLDER) -> Replayed | None:
    return replay_incident(records, stored, scene.policy, holder, never_survives, REPLAYED_AT)


def test_a_spooled_press_is_rebuilt_with_its_own_time_legs_and_claims() -> None:
    scene = open_scene()
    records, legs = spooled_press(scene)
    result = replay(records, None, scene)
    assert result is not None and result.is_new and result.open_key == "h:1"
    incident = result.incident
    assert (incident.id, incident.opened_at, incident.household_id) == (scene.incident.id, PRESS_AT,
                                                                         scene.incident.household_id)
    assert set(incident.legs) == set(scene.incident.legs)  # same ids: the placed legs are these rows
    assert {c.leg_id for c in result.claims} == set(legs)
    assert all(c.holder == HOLDER and c.at == PRESS_AT for c in result.claims)
    note = [e for e in incident.new_events if e.kind == STORED_AFTER_OUTAGE]
    assert len(note) == 1 and note[0].at == REPLAYED_AT and note[0].data["pressed_at"] == PRESS_AT
    assert incident.next_escalation_at == PRESS_AT + scene.policy.levels[0].wait  # type: ignore[operator]


def test_hand_overs_and_an_acknowledgement_are_applied_at_their_times() -> None:
    scene = open_scene()
    records, legs = spooled_press(scene)
    call = next(leg for leg in legs if "/call/" in leg)
    records += [outcome_record(scene.incident.id, at(1), call, LegStatus.DIALING, "", "ref-1"),
                outcome_record(scene.incident.id, at(9), call, LegStatus.ACKNOWLEDGED)]
    result = replay(records, None, scene)
    assert result is not None and result.applied == 2
    leg = result.incident.legs[call]
    assert (leg.status, leg.provider_ref, leg.updated_at) == (LegStatus.ACKNOWLEDGED, "ref-1", at(9))
    assert [a.at for a in result.incident.acks] == [at(9)]


def test_records_applied_twice_change_nothing_the_second_time() -> None:
    scene = open_scene()
    records, legs = spooled_press(scene)
    call = next(leg for leg in legs if "/call/" in leg)
    records += [outcome_record(scene.incident.id, at(1), call, LegStatus.DIALING),
                pressed_again_record(scene.incident.id, at(20), True, CallerTrust.REGISTERED),
                outcome_record(scene.incident.id, at(30), call, LegStatus.BUSY)]
    first = replay(records, None, scene)
    assert first is not None
    stored = first.incident
    stored.new_events, stored.changed_legs = [], set()
    before = (stored.level, stored.press_count, {k: (v.status, v.attempt) for k, v in stored.legs.items()})

    again = replay(records, stored, scene)
    assert again is not None and not again.is_new and again.applied == 0
    assert {c.leg_id for c in again.claims} == set(legs)  # written only where the store finds no claim
    assert (stored.level, stored.press_count, {k: (v.status, v.attempt) for k, v in stored.legs.items()}) == before
    assert stored.new_events == [] and stored.changed_legs == set()


def test_a_repeated_press_climbs_as_it_did_during_the_outage() -> None:
    scene = open_scene()
    records, _ = spooled_press(scene)
    records.append(pressed_again_record(scene.incident.id, at(40), True, CallerTrust.REGISTERED))
    result = replay(records, None, scene)
    assert result is not None
    assert (result.incident.press_count, result.incident.last_press_at) == (2, at(40))
    assert result.incident.level == scene.policy.repeat_press_jump


def test_legs_an_earlier_boot_left_in_flight_are_interrupted_and_attempted_again() -> None:
    scene = open_scene()
    records, legs = spooled_press(scene)
    call = next(leg for leg in legs if "/call/" in leg)
    sms = next(leg for leg in legs if "/sms/" in leg)
    records += [outcome_record(scene.incident.id, at(1), call, LegStatus.DIALING),
                outcome_record(scene.incident.id, at(1), sms, LegStatus.SUBMITTED)]
    result = replay(records, None, scene, holder=LATER_BOOT)  # restarted after a kill -9
    assert result is not None
    incident = result.incident
    assert incident.legs[call].interrupted and incident.legs[call].status is LegStatus.FAILED
    replacement = call.rsplit("/", 1)[0] + "/2"
    assert incident.legs[replacement].status is LegStatus.PENDING
    # A submitted text is the provider's now: not sent again.
    assert incident.legs[sms].status is LegStatus.SUBMITTED and sms.rsplit("/", 1)[0] + "/2" not in incident.legs


def test_the_same_boot_keeps_its_legs_in_flight() -> None:
    scene = open_scene()
    records, legs = spooled_press(scene)
    call = next(leg for leg in legs if "/call/" in leg)
    records.append(outcome_record(scene.incident.id, at(1), call, LegStatus.RINGING))
    result = replay(records, None, scene)
    assert result is not None and result.incident.legs[call].status is LegStatus.RINGING
    assert not any(leg.interrupted for leg in result.incident.legs.values())


def test_an_acknowledgement_for_an_incident_stored_before_the_outage_is_applied() -> None:
    scene = open_scene()
    scene.place_all_due()
    phone = scene.group.contact(1).phone
    leg = scene.leg(phone, Channel.CALL)
    scene.incident.new_events = []
    result = replay([outcome_record(scene.incident.id, at(5), leg.id, LegStatus.ACKNOWLEDGED)], scene.incident,
                    scene)
    assert result is not None and not result.is_new and result.applied == 1
    assert [a.recipient.phone for a in scene.incident.acks] == [phone]
    assert not any(e.kind == STORED_AFTER_OUTAGE for e in scene.incident.new_events)


def test_records_of_an_incident_nobody_can_rebuild_are_refused() -> None:
    scene = open_scene()
    leg = next(iter(scene.incident.legs))
    assert replay([outcome_record(scene.incident.id, at(5), leg, LegStatus.BUSY)], None, scene) is None


def test_a_press_after_the_incident_closed_is_not_applied() -> None:
    scene = open_scene()
    scene.incident.resolve(OPERATOR, at(3))
    assert scene.incident.status is IncidentStatus.RESOLVED
    late = pressed_again_record(scene.incident.id, at(10), True, CallerTrust.REGISTERED)
    result = replay([late], scene.incident, scene)
    assert result is not None and result.applied == 0


"""An unverified caller's press: the operators see it at once, the neighbours only when an operator
releases it or its hold ends; a forged number can neither start nor escalate anyone's alert."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from callcenter.domain.incident import HELD_LEVEL, IncidentError
from callcenter.domain.types import Actor, CallerTrust, IncidentStatus
from tests.unit.factories import open_scene, shipped_policy

OPERATOR = Actor("operator", "值班员")
HOLD = shipped_policy().unverified_hold


def test_an_unverified_press_is_held_for_the_operators_and_rings_nobody() -> None:
    scene = open_scene(trust=CallerTrust.UNVERIFIED)
    incident = scene.incident
    assert incident.is_held and incident.level == HELD_LEVEL and incident.status is IncidentStatus.ALERTING
    assert incident.legs == {}  # no neighbour, no SMS
    assert incident.urgent
    assert incident.next_escalation_at == scene.now + HOLD
    assert [e.kind for e in incident.new_events] == ["opened", "held_unverified", "urgent"]
    assert scene.events("opened")[0].data["trust"] is CallerTrust.UNVERIFIED


@pytest.mark.parametrize("trust", [CallerTrust.TRUNK, CallerTrust.REGISTERED, CallerTrust.ATTESTED,
                                   CallerTrust.LOCAL])
def test_a_verified_press_alerts_level_0_at_once(trust: CallerTrust) -> None:
    scene = open_scene(trust=trust)
    assert not scene.incident.is_held and scene.incident.level == 0 and scene.incident.legs


def test_an_operators_release_alerts_the_neighbours_and_the_hold_timer_then_does_nothing() -> None:
    scene = open_scene(trust=CallerTrust.UNVERIFIED)
    token = scene.incident.escalation_token
    scene.at(20)
    scene.incident.release(OPERATOR, scene.now, scene.policy)
    assert scene.incident.level == 0 and scene.incident.pending_legs()
    assert scene.events("released")[0].actor == "operator:值班员"
    legs = len(scene.incident.legs)
    scene.at(HOLD.total_seconds())
    assert not scene.escalate(0, token)  # the hold's own timer, late: nothing
    assert len(scene.incident.legs) == legs


def test_the_hold_ends_by_itself_so_an_unattended_night_drops_no_emergency() -> None:
    scene = open_scene(trust=CallerTrust.UNVERIFIED)
    scene.at(HOLD.total_seconds() - 1)
    assert not scene.escalate(0)  # not yet
    scene.at(HOLD.total_seconds())
    assert scene.escalate(0)
    assert scene.incident.level == 0 and scene.incident.pending_legs()
    assert scene.events("released")[0].actor == "system"


def test_only_a_held_incident_can_be_released() -> None:
    scene = open_scene(trust=CallerTrust.REGISTERED)
    with pytest.raises(IncidentError, match="not held"):
        scene.incident.release(OPERATOR, scene.now, scene.policy)
    held = open_scene(trust=CallerTrust.UNVERIFIED)
    held.incident.cancel(OPERATOR, held.now)
    with pytest.raises(IncidentError):
        held.incident.release(OPERATOR, held.now, held.policy)


def test_an_unverified_press_again_neither_releases_nor_climbs() -> None:
    held = open_scene(trust=CallerTrust.UNVERIFIED)
    held.incident.press_again(held.at(10), held.policy, trust=CallerTrust.UNVERIFIED)
    assert held.incident.is_held and held.incident.legs == {}
    alerting = open_scene(trust=CallerTrust.REGISTERED)
    alerting.incident.press_again(alerting.at(10), alerting.policy, trust=CallerTrust.UNVERIFIED)
    assert alerting.incident.level == 0  # a forged press cannot escalate a real emergency either
    pressed = alerting.events("pressed_again")[0]
    assert pressed.data["counted"] is False and pressed.data["reason"] == "unverified caller"


def test_the_household_pressing_again_from_a_verified_line_releases_its_held_incident() -> None:
    scene = open_scene(trust=CallerTrust.UNVERIFIED)
    scene.incident.press_again(scene.at(10), scene.policy, trust=CallerTrust.REGISTERED)
    assert scene.incident.level == 0 and scene.incident.pending_legs()
    assert scene.events("released")[0].actor.startswith("household:")
    assert scene.incident.caller_trust is CallerTrust.REGISTERED  # no unverified badge on a verified call


def test_with_no_hold_configured_or_wanted_an_unverified_press_alerts_at_once_but_stays_flagged() -> None:
    no_hold = replace(shipped_policy(), unverified_hold=timedelta(0))
    for scene in (open_scene(trust=CallerTrust.UNVERIFIED, policy=no_hold),
                  open_scene(trust=CallerTrust.UNVERIFIED, hold=False)):  # the database (and console) is down
        assert scene.incident.level == 0 and scene.incident.legs
        assert scene.incident.urgent and scene.incident.caller_trust is CallerTrust.UNVERIFIED

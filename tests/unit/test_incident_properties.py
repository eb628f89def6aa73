"""Whatever the channels report, in whatever order, the incident keeps its promises.

Hypothesis drives one incident with random outcomes, interruptions, timer firings, repeated presses,
operator acknowledgements and closings, and checks after every step that:
- no recipient ever has two unfinished alert legs on one channel;
- attempts never exceed 1 + max_redials, except for the fresh attempts after leg_interrupted;
- once help is coming or the incident is closed, nothing is left waiting to alert anyone;
- nobody who acknowledged is waiting to be alerted again, and each person is counted once.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from factories import Scene, build_group, open_scene
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callcenter.domain.types import CHANNEL_OUTCOMES, Actor, CallerTrust, IncidentStatus, LegPurpose
from contacts.model import Role

OPERATOR = Actor("operator", "李调度")

_outcome = st.tuples(st.just("outcome"), st.integers(0, 200), st.integers(0, 20))
_stale = st.tuples(st.just("stale"), st.integers(0, 200), st.integers(0, 20))
_interrupt = st.tuples(st.just("interrupt"), st.integers(0, 200))
_tick = st.tuples(st.just("tick"), st.integers(1, 120))
_step = st.one_of(
    _outcome, _outcome, _outcome, _outcome, _stale, _interrupt, _tick,
    st.tuples(st.just("press")),
    st.tuples(st.just("ack_on_behalf"), st.integers(0, 50)),
    st.tuples(st.sampled_from(["cancel", "resolve"])),
)


def _apply(scene: Scene, step: tuple[Any, ...]) -> None:
    incident, policy = scene.incident, scene.policy
    legs = sorted(incident.legs.values(), key=lambda leg: leg.id)
    open_legs = [leg for leg in legs if not leg.status.is_final]
    kind = step[0]
    if kind == "outcome" and open_legs:  # what a channel reports on a leg in progress
        leg = open_legs[step[1] % len(open_legs)]
        allowed = sorted(CHANNEL_OUTCOMES[leg.channel])
        incident.record_outcome(leg.id, allowed[step[2] % len(allowed)], scene.now, policy)
    elif kind == "stale" and legs:  # a late or duplicate report on any leg
        leg = legs[step[1] % len(legs)]
        allowed = sorted(CHANNEL_OUTCOMES[leg.channel])
        incident.record_outcome(leg.id, allowed[step[2] % len(allowed)], scene.now, policy)
    elif kind == "interrupt" and legs:
        incident.leg_interrupted(legs[step[1] % len(legs)].id, scene.now, policy, "instance stopped")
    elif kind == "tick":
        scene.clock.advance(step[1])
        due = incident.next_escalation_at
        if due is not None and scene.now >= due:
            climbed = incident.escalation_due(incident.level + 1, incident.escalation_token, scene.now, policy)
            # Or it waits: every call of the level is still queued for a trunk channel (nobody rang).
            waits = incident.next_escalation_at is None and incident.new_events[-1].kind == "escalation_waits"
            assert climbed or waits
    elif incident.status.is_open:
        _command(scene, step)


def _command(scene: Scene, step: tuple[Any, ...]) -> None:
    incident, policy = scene.incident, scene.policy
    if step[0] == "press":
        incident.press_again(scene.now, policy, trust=CallerTrust.REGISTERED)
    elif step[0] == "ack_on_behalf":
        everyone = [p.recipient for level in incident.plan.levels for p in level.recipients]
        incident.acknowledge_on_behalf(everyone[step[1] % len(everyone)].key, OPERATOR, scene.now, policy)
    elif step[0] == "cancel":
        incident.cancel(Actor("household"), scene.now)
    elif step[0] == "resolve":
        incident.resolve(OPERATOR, scene.now)


def _check(scene: Scene) -> None:
    incident = scene.incident
    alerts = [leg for leg in incident.legs.values() if leg.purpose is LegPurpose.ALERT]
    unfinished = Counter((leg.recipient.key, leg.channel) for leg in alerts if not leg.status.is_final)
    assert all(n == 1 for n in unfinished.values()), unfinished

    limit = 1 + scene.policy.redial.max_redials
    series = {(leg.recipient.key, leg.channel, leg.purpose) for leg in incident.legs.values()}
    for key, channel, purpose in series:
        same = [leg for leg in incident.legs.values()
                if (leg.recipient.key, leg.channel, leg.purpose) == (key, channel, purpose)]
        attempts = sorted(leg.attempt for leg in same)
        assert attempts == list(range(1, len(same) + 1)), attempts  # no gaps, no repeats
        if purpose is LegPurpose.ALERT:
            assert attempts[-1] <= limit + sum(leg.interrupted for leg in same), (key, channel, attempts)

    acknowledged = [a.recipient.key for a in incident.acks]
    assert len(acknowledged) == len(set(acknowledged))
    waiting = {leg.recipient.key for leg in alerts if leg.status.is_waiting}  # pending, or queued for the trunk
    assert not waiting & set(acknowledged)
    if incident.status is not IncidentStatus.ALERTING:
        assert not waiting
        assert incident.next_escalation_at is None
    else:
        assert not scene.policy.quorum.met([Role(a.recipient.role) for a in incident.acks])
    assert incident.closed_at is None if incident.status.is_open else incident.closed_at is not None


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_step, max_size=60))
def test_any_sequence_of_reports_keeps_the_incident_consistent(steps: list[tuple[Any, ...]]) -> None:
    scene = open_scene(group=build_group(households=3))
    _check(scene)
    for step in steps:
        _apply(scene, step)
        _check(scene)

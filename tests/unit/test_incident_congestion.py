"""An incident whose calls wait for trunk channels: the level's clock starts at its first call, the
quorum stands down calls still queued, and a mass event's summaries replace upper-level legs."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from factories import PRESS_AT, Scene, open_scene

from callcenter.domain.policy import Congestion
from callcenter.domain.types import Channel, IncidentStatus, LegPurpose, LegStatus

CALL = Channel.CALL
S = LegStatus


def _queue_level_calls(scene: Scene, level: int = 0) -> None:
    """Every call of the level handed to a channel that holds them for a free trunk channel."""
    for leg in scene.legs(level=level, channel=CALL, status=S.PENDING):
        assert scene.report(leg, S.QUEUED) == [True]


def test_the_timer_does_not_climb_past_neighbours_whose_calls_all_wait_for_the_trunk() -> None:
    scene = open_scene()
    _queue_level_calls(scene)
    scene.at(60)
    scene.mark()
    assert not scene.escalate(1)
    assert (scene.incident.level, scene.incident.next_escalation_at) == (0, None)
    [waits] = scene.events_since_mark("escalation_waits")
    assert waits.data["level"] == 0 and "trunk is full" in waits.data["reason"]
    assert scene.legs(level=1) == []


def test_the_level_s_wait_runs_from_its_first_call_leaving_the_queue() -> None:
    scene = open_scene()
    _queue_level_calls(scene)
    scene.at(60)
    scene.escalate(1)  # deferred
    token = scene.incident.escalation_token
    scene.at(200)
    first = scene.legs(level=0, channel=CALL)[0]
    scene.report(first, S.DIALING)
    assert scene.incident.next_escalation_at == PRESS_AT + timedelta(seconds=260)
    assert scene.incident.escalation_token == token + 1
    [clock] = scene.events("level_clock")
    assert clock.data["level"] == 0
    # A second call leaving the queue changes nothing more.
    scene.report(scene.legs(level=0, channel=CALL)[1], S.DIALING)
    assert scene.incident.escalation_token == token + 1
    scene.at(259)
    assert not scene.escalate(1)
    scene.at(260)
    assert scene.escalate(1) and scene.incident.level == 1


def test_a_first_call_that_leaves_the_queue_at_once_keeps_the_deadline() -> None:
    scene = open_scene()
    _queue_level_calls(scene)
    token = scene.incident.escalation_token
    scene.report(scene.legs(level=0, channel=CALL)[0], S.DIALING)  # a free trunk: dialled the same instant
    assert scene.incident.next_escalation_at == PRESS_AT + timedelta(seconds=60)
    assert scene.incident.escalation_token == token and scene.events("level_clock") == []


def test_one_call_placed_is_enough_for_the_timer_to_climb() -> None:
    scene = open_scene()
    _queue_level_calls(scene)
    scene.report(scene.legs(level=0, channel=CALL)[0], S.DIALING, S.NO_ANSWER)
    scene.at(60)
    assert scene.escalate(1) and scene.incident.level == 1


def test_a_call_refused_by_every_path_counts_as_tried() -> None:
    """A dead trunk must not freeze the escalation: a failed call was tried."""
    scene = open_scene()
    _queue_level_calls(scene)
    scene.report(scene.legs(level=0, channel=CALL)[0], S.FAILED)
    scene.at(60)
    assert scene.escalate(1)


def test_the_entered_clock_climbs_whatever_the_trunk() -> None:
    policy = open_scene().policy
    scene = open_scene(policy=replace(policy, congestion=Congestion(level_clock="entered")))
    _queue_level_calls(scene)
    scene.at(60)
    assert scene.escalate(1) and scene.incident.level == 1


def test_the_quorum_stands_down_calls_still_waiting_in_the_queue() -> None:
    scene = open_scene()
    _queue_level_calls(scene)
    a, b = scene.legs(level=0, channel=CALL)[:2]
    scene.report(a, S.DIALING, S.RINGING, S.ANSWERED, S.ACKNOWLEDGED)
    scene.report(b, S.DIALING, S.RINGING, S.ANSWERED, S.ACKNOWLEDGED)
    assert scene.incident.status is IncidentStatus.ACKNOWLEDGED
    assert scene.legs(channel=CALL, status=S.QUEUED) == []
    stood_down = scene.legs(channel=CALL, status=S.CANCELLED)
    assert stood_down and all(leg.detail == "quorum met" for leg in stood_down)
    # Nobody whose call only waited in the queue (and whose SMS was not sent) is told "help is coming".
    assert scene.legs(LegPurpose.HELP_COMING) == []


def test_a_queued_call_is_not_placed_and_moves_on_to_dialing() -> None:
    assert not S.QUEUED.was_placed and S.QUEUED.is_waiting and not S.QUEUED.is_final
    scene = open_scene()
    leg = scene.legs(level=0, channel=CALL)[0]
    assert scene.report(leg, S.QUEUED, S.DIALING, S.QUEUED) == [True, True, False]


def test_summarised_recipients_get_no_leg_of_their_own() -> None:
    scene = open_scene()
    scene.place_all_due()
    upper = {r.recipient.key for r in scene.incident.plan.levels[2].recipients}
    assert upper
    scene.at(60)
    assert scene.escalate(1)
    scene.at(180)
    scene.mark()
    assert scene.incident.escalation_due(2, scene.incident.escalation_token, scene.now, scene.policy,
                                         frozenset(upper))
    assert scene.legs(level=2) == []
    [summarised] = scene.events_since_mark("summarised")
    assert summarised.data["level"] == 2 and len(summarised.data["recipients"]) == len(upper)

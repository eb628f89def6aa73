"""MassEventBoard: which upper-level recipients are in a mass event, and when their summaries are due."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from factories import PRESS_AT, Scene, build_group, open_scene, shipped_policy, shipped_templates

from callcenter.domain.messages import TemplateError, render_summary
from callcenter.domain.policy import Congestion, EscalationPolicy, MassEvent
from callcenter.domain.types import Actor, CallerTrust, Channel, LegPurpose, LegStatus
from callcenter.service.mass_event import MassEventBoard

GROUP = build_group()


def policy(open_incidents: int = 3) -> EscalationPolicy:
    return replace(shipped_policy(), congestion=Congestion(mass_event=MassEvent(open_incidents=open_incidents)))


def scenes(count: int, rules: EscalationPolicy) -> list[Scene]:
    """``count`` households of one group pressed: the same village station, township and police."""
    return [open_scene(GROUP, rules, caller_index=i, incident_id=f"inc-{i:04d}") for i in range(count)]


def upper_keys(scene: Scene) -> set[str]:
    return {item.recipient.key for level in scene.incident.plan.levels[2:] for item in level.recipients}


def test_below_the_threshold_nobody_is_summarised() -> None:
    rules = policy(open_incidents=3)
    board = MassEventBoard(rules)
    two = scenes(2, rules)
    for scene in two:
        board.observe(scene.incident)
    assert board.summarised(two[0].incident) == frozenset()
    assert board.due(PRESS_AT) == []


def test_from_the_threshold_on_upper_recipients_are_summarised_and_a_summary_is_due_once_per_period() -> None:
    rules = policy(open_incidents=3)
    board = MassEventBoard(rules, link="https://console/")
    three = scenes(3, rules)
    for scene in three:
        board.observe(scene.incident)
    upper = upper_keys(three[0])
    assert upper and board.summarised(three[0].incident) == frozenset(upper)
    assert board.due(PRESS_AT) == []  # no incident has climbed to their level yet
    climbed = three[1]
    climbed.place_all_due()
    for level in (1, 2):
        climbed.at(60 * level * 2)
        assert climbed.incident.escalation_due(level, climbed.incident.escalation_token, climbed.now, rules,
                                               board.summarised(climbed.incident))
    board.observe(climbed.incident)
    level_2 = {item.recipient.key for item in climbed.incident.plan.levels[2].recipients}
    due = board.due(PRESS_AT + timedelta(minutes=5))
    assert {d.recipient.key for d in due} == level_2  # the police (level 3) only once an incident gets there
    assert all(d.incident_id == climbed.incident.id and d.alerting == 3 for d in due)
    assert all(d.never_called == 2 for d in due)  # the climbed incident had its calls placed
    assert board.due(PRESS_AT + timedelta(minutes=9)) == []  # sent 4 minutes ago
    assert len(board.due(PRESS_AT + timedelta(minutes=10))) == len(level_2)
    assert board.counts(next(iter(level_2))) == (3, 2)


def test_a_closed_incident_leaves_the_count() -> None:
    rules = policy(open_incidents=3)
    board = MassEventBoard(rules)
    three = scenes(3, rules)
    for scene in three:
        board.observe(scene.incident)
    three[0].incident.resolve(Actor("operator", "王"), three[0].now)
    board.observe(three[0].incident)
    assert board.summarised(three[1].incident) == frozenset()
    assert board.flood().alerting == 2


def test_a_summary_is_an_sms_leg_of_the_incident_numbered_per_recipient() -> None:
    scene = open_scene()
    police = scene.incident.plan.levels[3].recipients[0].recipient
    first, second = scene.incident.add_summary(police, scene.now), scene.incident.add_summary(police, scene.now)
    assert (first.channel, first.purpose, first.attempt, second.attempt) == (Channel.SMS, LegPurpose.SUMMARY, 1, 2)
    assert first.status is LegStatus.PENDING and first in scene.incident.pending_legs()


def test_the_summary_text_counts_and_links_and_fits_the_segments() -> None:
    templates = shipped_templates()
    text = render_summary(templates, 312, 57, "http://console.example/")
    assert "312起" in text and "57起" in text and text.endswith("http://console.example/")
    with pytest.raises(TemplateError):
        render_summary(replace(templates, mass_event_summary_sms="{alerting} {nope}"), 1, 1, "x")


def test_forged_presses_do_not_make_a_mass_event() -> None:
    """Unverified presses of a township's households (held, or alerted when their hold ended) are not
    counted: a spoofer cannot turn the police into a summary-only recipient for a real emergency."""
    rules = policy(open_incidents=3)
    board = MassEventBoard(rules)
    forged = [open_scene(GROUP, rules, caller_index=i, incident_id=f"forged-{i}", trust=CallerTrust.UNVERIFIED,
                         hold=hold) for i, hold in ((1, True), (2, False), (3, True))]
    real = open_scene(GROUP, rules, caller_index=0, incident_id="real")
    for scene in [*forged, real]:
        board.observe(scene.incident)
    assert board.summarised(real.incident) == frozenset()
    assert board.flood().alerting == 1


def test_an_upper_recipient_no_sms_reaches_keeps_a_call_per_incident_and_gets_no_summary() -> None:
    """A landline-only police station: the routes list no SMS path for it, so a summary would reach
    nobody. It stays out of the mass event (its calls are planned as usual); the others are summarised."""
    rules = policy(open_incidents=3)
    three = scenes(3, rules)
    police = {item.recipient.phone for item in three[0].incident.plan.levels[3].recipients}
    board = MassEventBoard(rules, can_text=lambda phone: phone not in police)
    for scene in three:
        board.observe(scene.incident)
    summarised = board.summarised(three[0].incident)
    assert summarised == frozenset(upper_keys(three[0]) - police) and summarised
    climbed = three[1]
    climbed.place_all_due()
    for level in (1, 2, 3):
        climbed.at(60 * level * 2)
        climbed.incident.escalation_due(level, climbed.incident.escalation_token, climbed.now, rules,
                                        board.summarised(climbed.incident))
    board.observe(climbed.incident)
    assert {leg.recipient.phone for leg in climbed.incident.legs.values()
            if leg.channel is Channel.CALL} >= police  # the police are called for this incident
    due = board.due(PRESS_AT + timedelta(minutes=10))
    assert due and not {d.recipient.phone for d in due} & police

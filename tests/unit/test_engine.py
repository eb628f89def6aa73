"""The incident engine on the in-memory store and directory (callcenter/adapters/memory.py), with fake
channels, timers and clock: a press, its legs, outcomes, quorum, escalation, cancel, recovery.
What it asks of a real database is in tests/integration/test_engine_sql.py; that the fakes answer
as the database does, in the contract suites (tests/integration/test_incident_store_contract.py,
test_directory_lookup.py)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from engine_rig import CALLER, Rig, engine_rig, leg_ids

from callcenter.adapters.memory import MemoryIncidentStore
from callcenter.channels.errors import ProviderDown
from callcenter.domain.incident import Incident
from callcenter.domain.types import Actor, CallerTrust, Channel, IncidentStatus, LegPurpose, LegStatus
from callcenter.service.outage import Report
from callcenter.service.write_turns import Turn


@pytest.fixture
def rig() -> Rig:
    return engine_rig(MemoryIncidentStore())


def test_two_acknowledgements_meet_quorum_and_tell_the_others(rig: Rig) -> None:
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    for i in (1, 2):
        (leg_id,) = leg_ids(rig, incident.id, f"+8613900000{i:03d}")
        rig.engine.leg_outcome(leg_id, LegStatus.ACKNOWLEDGED)
    rows = rig.store.incidents()
    assert rows[0].status == "acknowledged"
    help_coming = [r for r in rig.store.legs(incident.id) if r.purpose == LegPurpose.HELP_COMING]
    assert len(help_coming) == 9  # eight other neighbours and the grid worker
    assert "responder1" in rig.sms.orders[-1].text
    assert "escalate:" + incident.id not in rig.timers.jobs


def test_a_batch_of_reports_is_one_write_and_a_refused_report_does_not_spoil_it(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    first, second = (leg_ids(rig, incident.id, f"+8613900000{i:03d}")[0] for i in (1, 2))
    commands: list[str] = []
    command = rig.engine._command
    rig.engine._command = lambda i, change: commands.append(change.__name__) or command(i, change)  # type: ignore[method-assign]
    rig.engine.leg_outcomes(incident.id, [
        Report(first, LegStatus.RINGING), Report(f"{incident.id}/nobody/call/alert/1", LegStatus.BUSY),
        Report(first, LegStatus.ACKNOWLEDGED, "pressed 1"), Report(second, LegStatus.SUBMITTED),
        Report(second, LegStatus.ACKNOWLEDGED, "pressed 1"),
    ])
    assert commands.count("record_all") == 1  # one write for the batch (then the help-coming texts)
    assert rig.store.incidents()[0].status == "acknowledged"
    assert {r.id: r.status for r in rig.store.legs(incident.id) if r.id in (first, second)} == {
        first: "acknowledged", second: "acknowledged"}
    assert "has no leg" in caplog.text and "cannot report submitted" in caplog.text


def test_busy_neighbour_is_redialled_after_30_seconds(rig: Rig) -> None:
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    (first,) = leg_ids(rig, incident.id, "+8613900000001")
    rig.engine.leg_outcome(first, LegStatus.BUSY)
    assert len(leg_ids(rig, incident.id, "+8613900000001")) == 2
    sent_before = len(rig.calls.orders)
    rig.clock.advance(29)
    rig.fire_timers()
    assert len(rig.calls.orders) == sent_before
    rig.clock.advance(1)
    rig.fire_timers()
    assert rig.calls.orders[-1].attempt == 2 and rig.calls.orders[-1].recipient.phone == "+8613900000001"


def test_redials_due_together_share_one_timer_that_places_them_all(rig: Rig) -> None:
    """Ten busy neighbours: one leg timer for the incident, not ten that each read it again."""
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    loads = 0
    load = rig.engine._load_claimed

    def counted(incident_id: str) -> Any:
        nonlocal loads
        loads += 1
        return load(incident_id)
    rig.engine._load_claimed = counted  # type: ignore[method-assign]
    calls = [leg.id for leg in rig.store.legs(incident.id) if leg.channel == "call"]
    rig.engine.leg_outcomes(incident.id, [Report(leg_id, LegStatus.BUSY) for leg_id in calls[:9]])
    rig.clock.advance(5)
    rig.engine.leg_outcome(calls[9], LegStatus.BUSY)  # the tenth, 5 s later
    leg_timers = {job_id: timer.at for job_id, timer in rig.timers.jobs.items() if job_id.startswith("leg:")}
    redials = [r for r in rig.store.legs(incident.id) if r.attempt == 2]
    assert leg_timers == {f"leg:{incident.id}": min(r.due_at for r in redials)}
    sent_before = len(rig.calls.orders)
    rig.clock.advance(25)
    rig.fire_timers()
    assert len(rig.calls.orders) == sent_before + 9 and loads == 1  # nine due, one read
    rig.clock.advance(5)
    rig.fire_timers()  # the tenth, re-armed by the first firing
    assert len(rig.calls.orders) == sent_before + 10 and loads == 2


def test_nobody_answers_climbs_to_police(rig: Rig) -> None:
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    for _ in range(6):
        rig.clock.advance(60)
        rig.fire_timers()
    stored = rig.store.incidents()[0]
    assert stored.level == 3 and stored.urgent
    assert "+8613900000070" in rig.calls.sent_to()
    kinds = [e.kind for e in rig.store.timeline(incident.id)]
    assert kinds.count("level_entered") == 4


def test_repeated_press_joins_and_jumps_a_level(rig: Rig) -> None:
    first = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rig.clock.advance(20)
    second = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    assert second.id == first.id
    row = rig.store.incidents()[0]
    assert (row.press_count, row.level) == (2, 1)
    assert len(rig.store.incidents()) == 1


def test_press_after_window_opens_a_new_incident(rig: Rig) -> None:
    first = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rig.clock.advance(601)
    second = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    assert second.id != first.id


def test_unknown_caller_goes_to_operators_as_urgent(rig: Rig) -> None:
    incident = rig.engine.key_press("13512345678", CallerTrust.LOCAL)
    row = rig.store.incidents()[0]
    assert row.household_id is None and row.urgent and row.status == "alerting"
    assert rig.store.legs(incident.id) == []
    assert any(p.event.kind == "urgent" for p in rig.bus.history())


def test_cancel_sends_cancellation_to_everyone_alerted(rig: Rig) -> None:
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rig.engine.cancel(incident.id, Actor("household", "张桂兰"))
    cancellations = [r for r in rig.store.legs(incident.id) if r.purpose == LegPurpose.CANCELLATION]
    assert len(cancellations) == 11
    assert rig.store.incidents()[0].status == IncidentStatus.CANCELLED


def test_channel_failure_is_a_failed_leg_that_is_redialled(rig: Rig) -> None:
    rig.calls.refuse.add("+8613900000003")
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rows = {r.attempt: r for r in rig.store.legs(incident.id)
            if r.recipient_phone == "+8613900000003" and r.channel == "call"}
    assert rows[1].status == "failed" and "refused" in rows[1].detail
    assert rows[2].status == "pending"


def test_a_voice_message_is_stored_on_the_timeline(rig: Rig) -> None:
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rig.engine.attach_voice_message(incident.id, "var/recordings/x.wav", 7.25, Actor("household", "张桂兰"))
    stored = [e for e in rig.store.timeline(incident.id) if e.kind == "voice_message"]
    assert [(e.actor, e.data) for e in stored] == [
        ("household:张桂兰", {"path": "var/recordings/x.wav", "seconds": 7.2})]
    assert any(p.event.kind == "voice_message" for p in rig.bus.history())


def test_a_stopping_engine_sends_nothing_more_and_leaves_its_legs_claimed(rig: Rig) -> None:
    """After stop_dispatching no leg reaches a channel (they are shutting down) and none is marked
    failed: the legs stay claimed by this instance, for the next leader's recovery to replace."""
    rig.engine.executor = ThreadPoolExecutor(2)
    rig.engine.stop_dispatching()
    incident = rig.engine.key_press("0717-6100000", CallerTrust.LOCAL)
    legs = rig.store.legs(incident.id)
    assert rig.calls.orders == [] and rig.sms.orders == []
    assert len(legs) == 21 and {leg.status for leg in legs} == {"pending"}  # stored, claimed, never failed
    assert all(leg.claimed_by == "test#1" for leg in legs)


class PacedTexts:
    """An SMS path whose sends wait for a slot that never comes, as Twilio's pacer does in a flood."""

    name = "paced-sms"
    survives_restart = True

    def __init__(self) -> None:
        self.waiting = 0
        self.sent: list[str] = []
        self._closed = threading.Event()
        self._changed = threading.Condition()

    def send(self, order: Any) -> str:
        with self._changed:
            self.waiting += 1
            self._changed.notify_all()
        if self._closed.wait(10):
            raise ProviderDown("paced-sms: closed: the service is stopping")
        self.sent.append(order.leg_id)  # a slot after 10 s: what must not happen after the stop
        return "SM1"

    def close_sends(self) -> None:
        self._closed.set()

    def wait_waiting(self, count: int) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.waiting >= count, 10)


def test_sends_waiting_for_a_slot_when_the_engine_stops_give_up_unsent_and_unreported(rig: Rig) -> None:
    """A send blocked in a channel's pacer is not a queued future: stopping must end it, or it goes
    out after the lease is given back while the next leader replaces the same leg."""
    texts = PacedTexts()
    rig.engine.channels[Channel.SMS] = texts
    rig.engine.executor = ThreadPoolExecutor(32)
    incident = rig.engine.key_press("0717-6100000", CallerTrust.LOCAL)
    assert texts.wait_waiting(10)
    rig.engine.stop_dispatching()
    rig.engine.executor.shutdown(wait=True)
    assert texts.sent == []
    sms = [leg for leg in rig.store.legs(incident.id) if leg.channel == "sms"]
    assert sms and {leg.status for leg in sms} == {"pending"}  # not failed: the next leader replaces them
    assert all(leg.claimed_by == "test#1" for leg in sms)


def test_legs_claimed_already_are_not_claimed_again_by_later_commands(rig: Rig) -> None:
    """Legs waiting in a channel's queue are claimed and pending. A note, a report or a leg timer
    on their incident leaves them to the queue: in a flood, claiming them again on every report
    was a third of the engine's work."""
    rig.engine.executor = ThreadPoolExecutor(2)
    rig.engine.stop_dispatching()  # the legs stay queued: claimed, pending
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    claims: list[list[str]] = []
    claim = rig.store.claim
    rig.store.claim = lambda ids, *rest: claims.append(list(ids)) or claim(ids, *rest)  # type: ignore[method-assign]
    rig.engine.add_note(incident.id, "called back", Actor("operator", "op1"))
    rig.engine.leg_timer(incident.id)
    rig.engine.resume(incident.id)
    assert claims == []
    assert {leg.claimed_by for leg in rig.store.legs(incident.id)} == {"test#1"}


def test_recovery_closes_the_legs_of_one_incident_in_one_command(rig: Rig) -> None:
    """A crash leaves ~20 legs of each incident in flight; a command each queued recovery behind the
    reports of the very calls it was placing again."""
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rig.engine.holder = "test#2"
    interrupting: list[str] = []  # an incident per command that interrupted legs
    command = rig.engine._command

    def watched(incident_id: str, change: Any, turn: Turn = Turn.COMMAND) -> Any:
        def run(found: Incident, now: Any) -> Any:
            before = sum(leg.interrupted for leg in found.legs.values())
            result = change(found, now)
            if sum(leg.interrupted for leg in found.legs.values()) > before:
                interrupting.append(incident_id)
            return result
        return command(incident_id, run, turn)
    rig.engine._command = watched  # type: ignore[method-assign]
    assert rig.engine.interrupt_dead(lambda holder: holder == "test#1") == 10
    assert interrupting == [incident.id]
    retries = [r for r in rig.store.legs(incident.id) if r.attempt == 2 and r.channel == "call"]
    assert len(retries) == 10 and sum(r.interrupted for r in rig.store.legs(incident.id)) == 10


def test_a_press_stores_the_incident_with_its_level0_legs_claimed_then_places_them(rig: Rig) -> None:
    incident = rig.engine.key_press("0717-6100000", CallerTrust.LOCAL)
    legs = rig.store.legs(incident.id)
    calls = [leg for leg in legs if leg.channel == "call"]
    texts = [leg for leg in legs if leg.channel == "sms"]
    assert len(calls) == 10 and len(texts) == 11  # ten neighbours by call + SMS, grid worker by SMS
    assert {leg.level for leg in legs} == {0}
    assert {leg.status for leg in calls} == {"dialing"} and {leg.status for leg in texts} == {"submitted"}
    assert {(leg.claimed_by, leg.claimed_at) for leg in legs} == {("test#1", incident.opened_at)}
    assert sorted(rig.calls.sent_to()) == sorted(leg.recipient_phone for leg in calls)
    assert len(rig.sms.orders) == 11 and "张家村三组1号" in rig.sms.orders[0].text
    escalation = rig.timers.jobs[f"escalate:{incident.id}"]
    assert (escalation.at, escalation.level) == (incident.next_escalation_at, 1)
    assert next(p.event.kind for p in rig.bus.history()) == "opened"


def test_the_escalation_timer_climbs_once_and_an_early_or_stale_firing_changes_nothing(rig: Rig) -> None:
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    timer = rig.timers.jobs[f"escalate:{incident.id}"]
    rig.engine.escalation_timer(incident.id, timer.level, timer.token)  # early
    assert rig.store.incidents()[0].level == 0
    rig.clock.advance((timer.at - rig.clock.now()).total_seconds())
    rig.engine.escalation_timer(incident.id, timer.level, timer.token - 1)  # stale
    assert rig.store.incidents()[0].level == 0
    placed = len(rig.calls.orders) + len(rig.sms.orders)
    rig.fire_timers()
    assert rig.store.incidents()[0].level == 1
    level1 = [leg for leg in rig.store.legs(incident.id) if leg.level == 1]
    assert level1 and {leg.status for leg in level1} <= {"dialing", "submitted"}
    assert len(rig.calls.orders) + len(rig.sms.orders) == placed + len(level1)
    rig.engine.escalation_timer(incident.id, timer.level, timer.token)  # a duplicate firing
    assert rig.store.incidents()[0].level == 1 and len(rig.store.legs(incident.id)) == len(level1) + 21
    assert rig.timers.jobs[f"escalate:{incident.id}"].level == 2


def test_a_press_after_a_cancel_opens_a_new_incident(rig: Rig) -> None:
    first = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rig.engine.cancel(first.id, Actor("household", "张桂兰"))
    assert f"escalate:{first.id}" not in rig.timers.jobs
    rig.clock.advance(5)
    second = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    assert second.id != first.id and second.press_count == 1
    assert [row.status for row in rig.store.incidents()] == ["alerting", "cancelled"]


def test_simultaneous_presses_on_two_instances_open_one_incident(rig: Rig) -> None:
    """Two instances on one store take four presses of one household each, all at once: one incident
    opens and every other press joins it (the open key is unique; a press that lost the race re-reads)."""
    other = engine_rig(rig.store)
    other.engine.holder = "test#2"
    for each in (rig, other):  # only the presses write: no hand-over reports, the legs stay claimed
        each.engine.executor = ThreadPoolExecutor(1)
        each.engine.stop_dispatching()
    start = threading.Barrier(8)
    opened: list[str] = []

    def press(on: Rig) -> None:
        start.wait(10)
        opened.append(on.engine.key_press(CALLER, CallerTrust.LOCAL).id)
    threads = [threading.Thread(target=press, args=(on,)) for on in (rig, other) * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(opened) == 8 and len(set(opened)) == 1
    (row,) = rig.store.incidents()
    assert row.press_count == 8
    assert len({leg.claimed_by for leg in rig.store.legs(row.id) if leg.level == 0}) == 1  # by the opener


def test_an_sms_with_no_delivery_report_within_72_hours_is_closed_undelivered_reason_unknown(rig: Rig) -> None:
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    texts = [leg.id for leg in rig.store.legs(incident.id) if leg.channel == "sms"]
    delivered, *silent = texts
    rig.engine.leg_outcome(delivered, LegStatus.DELIVERED)
    rig.clock.advance(71 * 3600)
    assert rig.engine.expire_unreported_sms() == 0  # still inside the providers' window
    rig.clock.advance(2 * 3600)
    assert rig.engine.expire_unreported_sms() == len(silent)
    legs = {leg.id: leg for leg in rig.store.legs(incident.id)}
    assert legs[delivered].status == "delivered"
    assert {legs[leg].status for leg in silent} == {"undelivered"}
    assert {legs[leg].detail for leg in silent} == {"undelivered: unknown (no report within 72 h)"}
    assert rig.engine.expire_unreported_sms() == 0

"""The incident engine on real storage (SQLite and PostgreSQL) with fake channels and timers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from callcenter.adapters.events import EventBus
from callcenter.adapters.fakes import FakeChannel, FakeTimers, SteppingClock
from callcenter.channels.errors import ProviderDown
from callcenter.db.engine import make_engine, migrate
from callcenter.db.incident_repo import SqlIncidentStore
from callcenter.domain.incident import Incident
from callcenter.domain.types import Actor, CallerTrust, Channel, IncidentStatus, LegPurpose, LegStatus
from callcenter.policies import load_policy, load_templates
from callcenter.service.engine import IncidentEngine
from callcenter.service.outage import Report
from callcenter.service.write_turns import Turn, WriteTurns
from contacts.model import CallerLookup, HouseholdProfile, Place, Responder, Role, ScopeLevel
from contacts.phones import PhonePolicy

CONFIG = Path(__file__).resolve().parents[2] / "config"
CALLER = "+867176100000"


def _responder(i: int, role: Role, household_id: int | None = None) -> Responder:
    return Responder(i, f"responder{i}", f"+8613900000{i:03d}", role, ScopeLevel.GROUP, 1, household_id)


class OneGroupDirectory:
    """Household 0 (the caller) with ten neighbours, a grid worker and the upper levels."""

    def household_by_caller(self, number: str) -> CallerLookup | None:
        if number != CALLER:
            return None
        household = HouseholdProfile(1, "H0", "三组 张桂兰家", "张桂兰", "张家村三组1号", (CALLER,))
        place = Place(1, "小溪塔街道", 1, "张家村", 1, "第一网格", 1, "三组")
        neighbours = tuple(_responder(i, Role.HOUSEHOLD_CONTACT, household_id=100 + i) for i in range(1, 11))
        upper = (_responder(50, Role.GRID_WORKER), _responder(51, Role.GRID_CENTRE_HOUSEHOLD),
                 _responder(60, Role.VILLAGE_STATION), _responder(70, Role.POLICE_STATION))
        return CallerLookup(household, place, (), neighbours, upper)


@dataclass
class Rig:
    engine: IncidentEngine
    store: SqlIncidentStore
    clock: SteppingClock
    timers: FakeTimers
    calls: FakeChannel
    sms: FakeChannel
    bus: EventBus

    def fire_timers(self) -> None:
        for timer in self.timers.due(self.clock.now()):
            if timer.kind == "escalate":
                self.engine.escalation_timer(timer.incident_id, timer.level, timer.token)
            else:
                self.engine.leg_timer(timer.incident_id)


@pytest.fixture
def rig(database_url: str) -> Iterator[Rig]:
    yield from make_rig(database_url)


def make_rig(database_url: str) -> Iterator[Rig]:
    """The engine on a migrated database with fake channels and timers and a stepping clock."""
    migrate(database_url)
    db = make_engine(database_url)
    store, clock, timers, bus = SqlIncidentStore(db), SteppingClock(), FakeTimers(), EventBus()
    calls, sms = FakeChannel("fake-call"), FakeChannel("fake-sms")
    engine = IncidentEngine(
        store=store, directory=OneGroupDirectory(), policy=load_policy(CONFIG / "escalation.yaml"),
        templates=load_templates(CONFIG / "messages.yaml"), channels={Channel.CALL: calls, Channel.SMS: sms},
        timers=timers, clock=clock, events=bus, holder="test#1", phone_policy=PhonePolicy(),
    )
    yield Rig(engine, store, clock, timers, calls, sms, bus)
    db.dispose()


def _leg_ids(rig: Rig, incident_id: str, phone: str, channel: str = "call") -> list[str]:
    return [r.id for r in rig.store.legs(incident_id) if r.recipient_phone == phone and r.channel == channel]


def test_press_stores_incident_and_level0_legs_then_dials(rig: Rig) -> None:
    incident = rig.engine.key_press("0717-6100000", CallerTrust.LOCAL)
    legs = rig.store.legs(incident.id)
    calls = [leg for leg in legs if leg.channel == "call"]
    texts = [leg for leg in legs if leg.channel == "sms"]
    assert len(calls) == 10 and len(texts) == 11  # ten neighbours by call + SMS, grid worker by SMS
    assert {leg.status for leg in calls} == {"dialing"}
    assert {leg.status for leg in texts} == {"submitted"}
    assert all(leg.claimed_by == "test#1" for leg in legs)
    assert sorted(rig.calls.sent_to()) == sorted(leg.recipient_phone for leg in calls)
    assert "张家村三组1号" in rig.sms.orders[0].text


def test_a_new_incident_is_stored_with_its_due_legs_already_claimed(rig: Rig) -> None:
    """One write per press: the legs it places are claimed in the incident's own transaction."""
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    legs = rig.store.legs(incident.id)
    due = [leg for leg in legs if leg.due_at <= incident.opened_at]
    assert len(due) == 21
    assert {(leg.claimed_by, leg.provider, leg.claimed_at) for leg in due if leg.channel == "call"} == {
        ("test#1", "fake-call", incident.opened_at)}
    assert rig.store.claim([leg.id for leg in due], "other#1", {}, rig.clock.now()) == []
    assert len(rig.calls.orders) == 10 and len(rig.sms.orders) == 11  # each handed over once


def test_two_acknowledgements_meet_quorum_and_tell_the_others(rig: Rig) -> None:
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    for i in (1, 2):
        (leg_id,) = _leg_ids(rig, incident.id, f"+8613900000{i:03d}")
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
    first, second = (_leg_ids(rig, incident.id, f"+8613900000{i:03d}")[0] for i in (1, 2))
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
    (first,) = _leg_ids(rig, incident.id, "+8613900000001")
    rig.engine.leg_outcome(first, LegStatus.BUSY)
    assert len(_leg_ids(rig, incident.id, "+8613900000001")) == 2
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


def test_recovery_interrupts_legs_of_a_dead_instance(rig: Rig) -> None:
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rig.engine.holder = "test#2"
    interrupted = rig.engine.recover(dead_holders=lambda holder: holder == "test#1")
    assert interrupted == 21 - 11  # the calls; SMS already submitted are final at the provider
    retries = [r for r in rig.store.legs(incident.id) if r.attempt == 2 and r.channel == "call"]
    assert len(retries) == 10 and all(r.claimed_by == "test#2" for r in retries)


class RecordingTurns(WriteTurns):
    """Write turns that note each one's tier and whether the recovery thread asked for it."""

    def __init__(self) -> None:
        super().__init__(8)
        self.taken: list[tuple[str, Turn]] = []

    @contextmanager
    def turn(self, tier: Turn = Turn.COMMAND) -> Iterator[None]:
        self.taken.append((threading.current_thread().name, tier))
        with super().turn(tier):
            yield


def test_recovery_writes_go_before_waiting_commands(rig: Rig) -> None:
    """After a takeover the calls recovery places report back at once; behind their writes the SIP
    crash benchmark's survivor placed nothing for its last inherited incident until 77 s after start."""
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rig.engine.holder = "test#2"
    rig.engine.write_turns = turns = RecordingTurns()
    rig.engine.executor = ThreadPoolExecutor(4, thread_name_prefix="send")
    recovery = threading.Thread(target=rig.engine.recover, args=(lambda holder: holder == "test#1",),
                                name="recovery")
    recovery.start()
    recovery.join(10)
    rig.engine.executor.shutdown(wait=True)
    by_recovery = {tier for thread, tier in turns.taken if thread == "recovery"}
    by_senders = {tier for thread, tier in turns.taken if thread.startswith("send")}
    assert by_recovery == {Turn.RECOVERY}  # closing the dead instance's legs, claiming their replacements
    assert by_senders == {Turn.COMMAND}  # the replacements' hand-over reports wait their turn
    retries = [r for r in rig.store.legs(incident.id) if r.attempt == 2 and r.channel == "call"]
    assert len(retries) == 10 and all(r.status != "pending" for r in retries)


def test_legs_of_an_instance_that_dies_after_the_takeover_are_interrupted_later(rig: Rig) -> None:
    """Its heartbeat was still live at the takeover (it died while another led): the sweep's check catches it."""
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rig.engine.holder = "test#2"
    assert rig.engine.recover(dead_holders=lambda holder: False) == 0
    assert rig.engine.interrupt_dead(lambda holder: holder == "test#1") == 21 - 11
    retries = [r for r in rig.store.legs(incident.id) if r.attempt == 2 and r.channel == "call"]
    assert len(retries) == 10 and all(r.claimed_by == "test#2" for r in retries)
    assert rig.engine.interrupt_dead(lambda holder: holder == "test#1") == 0  # nothing left in flight there


def test_the_sweep_reads_legs_in_flight_only_of_dead_instances(rig: Rig) -> None:
    """Every 2 s the leader asks which instances hold legs in flight; the legs (thousands in a flood)
    are read only for one that died."""
    rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    asked: list[str] = []
    read: list[list[str]] = []
    in_flight = rig.store.in_flight
    rig.store.in_flight = lambda holders: read.append(list(holders)) or in_flight(holders)  # type: ignore[method-assign]
    assert rig.engine.interrupt_dead(lambda holder: bool(asked.append(str(holder)))) == 0
    assert asked == ["test#1"] and read == []
    rig.engine.holder = "test#2"
    assert rig.engine.interrupt_dead(lambda holder: holder == "test#1") == 10
    assert read == [["test#1"]]


def test_legs_a_dead_instance_left_in_flight_are_released_before_their_next_attempts(rig: Rig) -> None:
    """Its calls may still ring: ``orphans`` (the SIP channel's CANCELs) hears of them first."""
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    released: list[tuple[set[tuple[str, str | None, str, str]], int]] = []
    rig.engine.orphans = lambda refs: released.append(
        ({(r.leg_id, r.claimed_by, r.phone, r.provider) for r in refs}, len(rig.calls.orders)))
    rig.engine.holder = "test#2"
    assert rig.engine.interrupt_dead(lambda holder: holder == "test#1") == 10
    calls = {(r.id, "test#1", r.recipient_phone, "fake-call") for r in rig.store.legs(incident.id)
             if r.channel == "call" and r.attempt == 1}
    assert released == [(calls, 10)]  # all ten, before any of their replacements was placed
    assert len(rig.calls.orders) == 20


def test_a_failing_release_of_old_calls_does_not_hold_back_their_next_attempts(rig: Rig) -> None:
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)

    def broken(refs: object) -> None:
        raise OSError("alert socket closed")
    rig.engine.orphans = broken
    rig.engine.holder = "test#2"
    assert rig.engine.interrupt_dead(lambda holder: holder == "test#1") == 10
    retries = [r for r in rig.store.legs(incident.id) if r.attempt == 2 and r.channel == "call"]
    assert len(retries) == 10 and all(r.claimed_by == "test#2" for r in retries)


def test_a_voice_message_is_stored_on_the_timeline(rig: Rig) -> None:
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rig.engine.attach_voice_message(incident.id, "var/recordings/x.wav", 7.25, Actor("household", "张桂兰"))
    stored = [e for e in rig.store.timeline(incident.id) if e.kind == "voice_message"]
    assert [(e.actor, e.data) for e in stored] == [
        ("household:张桂兰", {"path": "var/recordings/x.wav", "seconds": 7.2})]
    assert any(p.event.kind == "voice_message" for p in rig.bus.history())


def test_hand_overs_from_many_dispatch_threads_are_all_stored(rig: Rig) -> None:
    """Twenty-one legs handed over at once from 16 threads: every answer lands, none is lost to a batch."""
    rig.engine.executor = ThreadPoolExecutor(16)
    rig.calls.refuse.add("+8613900000005")
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rig.engine.executor.shutdown(wait=True)
    first = {r.recipient_phone + r.channel: r.status for r in rig.store.legs(incident.id) if r.attempt == 1}
    assert len(first) == 21
    assert first.pop("+8613900000005call") == "failed"
    assert set(first.values()) == {"dialing", "submitted"}
    assert len(rig.calls.orders) + len(rig.sms.orders) == 20


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

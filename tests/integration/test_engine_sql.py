"""The incident engine on real storage (SQLite and PostgreSQL) with fake channels and timers: what
the engine asks of the database (a press's legs stored claimed in its own transaction, recovery's
queries for legs in flight, hand-overs from many threads). Engine logic runs on the in-memory store
in tests/unit/test_engine.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from callcenter.db.engine import make_engine, migrate
from callcenter.db.incident_repo import SqlIncidentStore
from callcenter.domain.types import CallerTrust
from callcenter.service.write_turns import Turn, WriteTurns
from tests.unit.engine_rig import CALLER, Rig, engine_rig

__all__ = ["CALLER", "Rig", "make_rig"]  # the rig other tests of the engine on a database build on


@pytest.fixture
def rig(database_url: str) -> Iterator[Rig]:
    yield from make_rig(database_url)


def make_rig(database_url: str) -> Iterator[Rig]:
    """The engine on a migrated database with fake channels and timers and a stepping clock."""
    migrate(database_url)
    db = make_engine(database_url)
    yield engine_rig(SqlIncidentStore(db))
    db.dispose()


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

"""One contract for the incident stores: the in-memory fake and SQL (SQLite and PostgreSQL).

What the engine relies on: a unit of work writes all or nothing, a save checks the version it read,
one open incident per open key, a leg is claimed once, and the queries of recovery, the sweep and the
auditor answer alike. Where two writers race, the SQL store lets the first writer win and the fake
the first committer: the contract is that exactly one wins and the other gets ConcurrentUpdateError.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import fields
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from callcenter.adapters.memory import MemoryIncidentStore
from callcenter.db.engine import make_engine, migrate
from callcenter.db.incident_repo import SqlIncidentStore
from callcenter.domain.incident import Incident, IncidentEvent
from callcenter.domain.types import Actor, Channel, LegStatus
from callcenter.service.ports import ConcurrentUpdateError, LegClaims, LegRef
from tests.unit.factories import SteppingClock, open_scene, shipped_policy

Store = MemoryIncidentStore | SqlIncidentStore
KEY = "h:101"
HOLDER = "test#1"


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryIncidentStore()
        return
    url = request.getfixturevalue(f"{request.param}_url")
    migrate(url)
    engine = make_engine(url)
    yield SqlIncidentStore(engine)
    engine.dispose()


def _incident(incident_id: str = "inc-1", clock: SteppingClock | None = None, caller_index: int = 0) -> Incident:
    """A press from a household of the group: level 0 alerting, its legs due now."""
    return open_scene(incident_id=incident_id, clock=clock, caller_index=caller_index).incident


def _add(store: Store, incident: Incident, key: str | None = KEY, claims: LegClaims | None = None) -> None:
    with store.unit_of_work() as uow:
        uow.incidents.add(incident, key, claims)
        uow.commit()
    _stored(incident)


def _stored(incident: Incident) -> None:
    """What the engine does after a commit: the written changes are no longer new."""
    incident.new_events, incident.changed_legs = [], set()


def _get(store: Store, incident_id: str) -> Incident:
    with store.unit_of_work() as uow:
        found = uow.incidents.get(incident_id)
    assert found is not None
    return found


def _change(store: Store, incident_id: str, change: Callable[[Incident, datetime], object], now: datetime) -> None:
    with store.unit_of_work() as uow:
        incident = uow.incidents.get(incident_id)
        assert incident is not None
        change(incident, now)
        uow.incidents.save(incident, now)
        uow.commit()


def _state(incident: Incident) -> dict[str, Any]:
    """The aggregate as stored: everything but what a command has still to write."""
    return {f.name: getattr(incident, f.name) for f in fields(incident) if f.name not in ("new_events", "changed_legs")}


def _call_ids(incident: Incident) -> list[str]:
    return sorted(leg.id for leg in incident.legs.values() if leg.channel is Channel.CALL)


def _due_ids(incident: Incident, now: datetime) -> list[str]:
    return sorted(leg.id for leg in incident.pending_legs() if leg.due_at <= now)


# -- units of work ------------------------------------------------------------------------------


def test_an_added_incident_reads_back_whole(store: Store) -> None:
    incident = _incident()
    due = _due_ids(incident, incident.opened_at)
    _add(store, incident, claims=LegClaims(HOLDER, incident.opened_at, {due[0]: "fake-call"}))
    found = _get(store, incident.id)
    assert incident.version == 1 and found.version == 1
    assert _state(found) == _state(incident)
    assert found.legs and found.plan == incident.plan


def test_times_come_back_in_utc(store: Store) -> None:
    yichang = datetime(2026, 3, 14, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    incident = _incident(clock=SteppingClock(yichang))
    _add(store, incident)
    found = _get(store, incident.id)
    assert found.opened_at == yichang and found.opened_at.utcoffset() == timedelta(0)
    assert all(leg.due_at.utcoffset() == timedelta(0) for leg in found.legs.values())


def test_a_unit_of_work_left_without_commit_writes_nothing(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.incidents.add(_incident(), KEY)
        assert uow.incidents.get("inc-1") is not None  # its own writes, before the commit
        assert uow.incidents.find_open(KEY) is not None
    with store.unit_of_work() as uow:
        assert uow.incidents.get("inc-1") is None and uow.incidents.find_open(KEY) is None
    assert store.open_incident_ids() == [] and store.legs("inc-1") == []


def test_a_save_after_an_add_in_one_unit_of_work_is_stored(store: Store) -> None:
    incident = _incident()
    with store.unit_of_work() as uow:
        uow.incidents.add(incident, KEY)
        incident.add_note("neighbour on the way", Actor("operator", "op1"), incident.opened_at)
        uow.incidents.save(incident, incident.opened_at)
        uow.commit()
    assert _get(store, incident.id).version == 2
    assert [e.kind for e in store.timeline(incident.id)][-1] == "note"


def test_a_save_writes_the_changes_and_bumps_the_version(store: Store) -> None:
    incident = _incident()
    _add(store, incident)
    leg_id = _call_ids(incident)[0]
    now = incident.opened_at + timedelta(seconds=5)
    _change(store, incident.id, lambda i, at: i.record_outcome(leg_id, LegStatus.BUSY, at, shipped_policy(),
                                                               "486 busy", "ref-1"), now)
    found = _get(store, incident.id)
    assert found.version == 2
    leg = found.legs[leg_id]
    assert (leg.status, leg.detail, leg.provider_ref, leg.updated_at) == (LegStatus.BUSY, "486 busy", "ref-1", now)
    assert len(found.legs) == len(incident.legs) + 1  # the redial, added by the same save
    assert [e.kind for e in store.timeline(incident.id)][-2:] == ["leg_status", "leg_planned"]


def test_a_save_on_a_stale_read_is_refused(store: Store) -> None:
    incident = _incident()
    _add(store, incident)
    stale = _get(store, incident.id)
    now = incident.opened_at
    _change(store, incident.id, lambda i, at: i.add_note("first", Actor("operator", "op1"), at), now)
    stale.add_note("second", Actor("operator", "op2"), now)
    with pytest.raises(ConcurrentUpdateError), store.unit_of_work() as uow:
        uow.incidents.save(stale, now)
        uow.commit()
    notes = [e.data["text"] for e in store.timeline(incident.id) if e.kind == "note"]
    assert notes == ["first"] and _get(store, incident.id).version == 2


def test_two_saves_of_one_version_at_once_store_one(store: Store) -> None:
    incident = _incident()
    _add(store, incident)
    now = incident.opened_at

    def save(text: str) -> Callable[[], None]:
        def run() -> None:
            with store.unit_of_work() as uow:
                found = uow.incidents.get(incident.id)
                assert found is not None
                found.add_note(text, Actor("operator", text), now)
                uow.incidents.save(found, now)
                if text == "first":
                    barrier.wait()
                uow.commit()
        return run
    barrier = _Pause()
    outcomes = _race_writes(save("first"), save("second"), barrier)
    assert sorted(outcomes) == ["refused", "stored"]
    notes = [e.data["text"] for e in store.timeline(incident.id) if e.kind == "note"]
    assert len(notes) == 1 and _get(store, incident.id).version == 2


# -- the open key ---------------------------------------------------------------------------------


def test_an_open_key_is_held_by_one_incident(store: Store) -> None:
    _add(store, _incident("inc-1"))
    with pytest.raises(ConcurrentUpdateError), store.unit_of_work() as uow:
        uow.incidents.add(_incident("inc-2"), KEY)
        uow.commit()
    with store.unit_of_work() as uow:
        found = uow.incidents.find_open(KEY)
        assert found is not None and found.id == "inc-1"
        assert uow.incidents.get("inc-2") is None


def test_two_adds_of_one_open_key_at_once_store_one(store: Store) -> None:
    def add(incident_id: str) -> Callable[[], None]:
        def run() -> None:
            with store.unit_of_work() as uow:
                uow.incidents.add(_incident(incident_id), KEY)
                if incident_id == "inc-1":
                    barrier.wait()
                uow.commit()
        return run
    barrier = _Pause()
    assert sorted(_race_writes(add("inc-1"), add("inc-2"), barrier)) == ["refused", "stored"]
    assert len(store.open_incident_ids()) == 1
    with store.unit_of_work() as uow:
        found = uow.incidents.find_open(KEY)
        assert found is not None and found.id == store.open_incident_ids()[0]


def test_a_released_open_key_takes_a_new_incident(store: Store) -> None:
    _add(store, _incident("inc-1"))
    with store.unit_of_work() as uow:
        uow.incidents.release_open_key("inc-1")
        assert uow.incidents.find_open(KEY) is None
        uow.incidents.add(_incident("inc-2"), KEY)
        uow.commit()
    with store.unit_of_work() as uow:
        found = uow.incidents.find_open(KEY)
        assert found is not None and found.id == "inc-2"
    old = _get(store, "inc-1")
    assert old.status.is_open and old.version == 1  # the release is no save: no version moved
    assert store.open_incident_ids() == ["inc-1", "inc-2"]


def test_closing_an_incident_frees_its_open_key(store: Store) -> None:
    incident = _incident()
    _add(store, incident)
    _change(store, incident.id, lambda i, at: i.cancel(Actor("household", "张建国"), at), incident.opened_at)
    with store.unit_of_work() as uow:
        assert uow.incidents.find_open(KEY) is None
    _add(store, _incident("inc-2"))
    assert store.open_incident_ids() == ["inc-2"]


# -- leg claims -----------------------------------------------------------------------------------


def test_a_leg_is_claimed_once_and_only_while_pending(store: Store) -> None:
    incident = _incident()
    due = _due_ids(incident, incident.opened_at)
    claimed, placed = _call_ids(incident)[:2]
    _add(store, incident, claims=LegClaims(HOLDER, incident.opened_at, {claimed: "fake-call"}))
    now = incident.opened_at + timedelta(seconds=1)
    _change(store, incident.id, lambda i, at: i.record_outcome(placed, LegStatus.DIALING, at, shipped_policy()), now)
    won = store.claim([*due, "inc-1/nobody/call/alert/1"], "test#2", dict.fromkeys(due, "fake-sms"), now)
    rest = [leg_id for leg_id in due if leg_id not in (claimed, placed)]
    assert won == rest  # not the one claimed at the add, nor the one no longer pending, nor one never stored
    assert store.claim(due, "test#3", {}, now) == []
    rows = {row.id: row for row in store.legs(incident.id)}
    assert (rows[claimed].claimed_by, rows[claimed].provider, rows[claimed].claimed_at) == (
        HOLDER, "fake-call", incident.opened_at)
    assert rows[placed].claimed_by is None
    assert {(rows[i].claimed_by, rows[i].provider, rows[i].claimed_at) for i in rest} == {("test#2", "fake-sms", now)}


def test_claims_from_many_threads_hand_each_leg_out_once(store: Store) -> None:
    incident = _incident()
    _add(store, incident)
    due = _due_ids(incident, incident.opened_at)
    won: list[list[str]] = []
    threads = [threading.Thread(target=lambda n=n: won.append(
        store.claim(due[n % 3:], f"test#{n}", {}, incident.opened_at))) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    handed = [leg_id for claims in won for leg_id in claims]
    assert len(won) == 6 and sorted(handed) == due


def test_claimed_legs_are_those_claimed_when_read_or_written(store: Store) -> None:
    incident = _incident()
    due = _due_ids(incident, incident.opened_at)
    with store.unit_of_work() as uow:
        uow.incidents.add(incident, KEY, LegClaims(HOLDER, incident.opened_at, dict.fromkeys(due[:2], "fake-call")))
        assert uow.incidents.claimed_legs(incident.id) == frozenset(due[:2])
        uow.commit()
    store.claim(due[2:4], HOLDER, {}, incident.opened_at)
    with store.unit_of_work() as uow:
        uow.incidents.get(incident.id)
        assert uow.incidents.claimed_legs(incident.id) == frozenset(due[:4])
        uow.incidents.record_claims([(due[4], "test#2", "fake-sms", incident.opened_at)])
        assert uow.incidents.claimed_legs(incident.id) == frozenset(due[:5])
        assert uow.incidents.claimed_legs("inc-other") == frozenset()


def test_recorded_claims_keep_an_earlier_claim(store: Store) -> None:
    incident = _incident()
    _add(store, incident)
    due = _due_ids(incident, incident.opened_at)
    store.claim(due[:1], HOLDER, {due[0]: "fake-call"}, incident.opened_at)
    earlier = incident.opened_at - timedelta(seconds=30)
    with store.unit_of_work() as uow:
        uow.incidents.record_claims([(leg_id, "spool#1", "fake-sms", earlier) for leg_id in due[:2]])
        uow.commit()
    rows = {row.id: row for row in store.legs(incident.id)}
    assert (rows[due[0]].claimed_by, rows[due[0]].provider) == (HOLDER, "fake-call")
    assert (rows[due[1]].claimed_by, rows[due[1]].provider, rows[due[1]].claimed_at) == ("spool#1", "fake-sms", earlier)


# -- queries --------------------------------------------------------------------------------------


def test_due_legs_are_pending_unclaimed_and_due_highest_level_first(store: Store) -> None:
    policy, clock = shipped_policy(), SteppingClock()
    incident = _incident(clock=clock)
    level0 = _due_ids(incident, clock.now())
    _add(store, incident)
    store.claim(level0[:3], HOLDER, {}, clock.now())
    later = clock.advance(60)
    _change(store, incident.id, lambda i, at: i.escalation_due(1, i.escalation_token, at, policy), later)
    level1 = sorted(set(_due_ids(_get(store, incident.id), later)) - set(level0))
    assert level1
    due = store.due_legs(later)
    stored = {leg.id: (leg.level, leg.due_at) for leg in _get(store, incident.id).legs.values()}
    order = [stored[ref.leg_id] for ref in due]
    assert order == sorted(order, key=lambda item: (-item[0], item[1]))  # the escalation's legs first
    assert {ref.leg_id for ref in due} == set(level0[3:]) | set(level1)
    assert {ref.incident_id for ref in due} == {incident.id}
    assert len(store.due_legs(later, limit=2)) == 2
    assert {ref.leg_id for ref in store.due_legs(clock.now() - timedelta(seconds=61))} == set()


def test_legs_in_flight_by_holder(store: Store) -> None:
    incident = _incident()
    _add(store, incident)
    calls = sorted(leg.id for leg in incident.legs.values() if leg.channel is Channel.CALL)
    texts = sorted(leg.id for leg in incident.legs.values() if leg.channel is Channel.SMS)
    now = incident.opened_at
    store.claim(calls[:2], HOLDER, dict.fromkeys(calls, "fake-call"), now)
    store.claim(calls[2:3] + texts[:1], "test#2", dict.fromkeys(calls + texts, "fake-x"), now)
    policy = shipped_policy()

    def outcomes(i: Incident, at: datetime) -> None:
        i.record_outcome(calls[0], LegStatus.DIALING, at, policy)  # still in flight
        i.record_outcome(calls[1], LegStatus.FAILED, at, policy)  # final
        i.record_outcome(texts[0], LegStatus.SUBMITTED, at, policy)  # final at the provider
    _change(store, incident.id, outcomes, now)
    assert store.in_flight_holders() == {HOLDER, "test#2"}
    phone = incident.legs[calls[0]].recipient.phone
    assert store.in_flight([HOLDER]) == [LegRef(incident.id, calls[0], "fake-call", HOLDER, phone)]
    assert {ref.leg_id for ref in store.in_flight([HOLDER, "test#2"])} == {calls[0], calls[2]}
    assert store.in_flight(["test#9"]) == []


def test_open_incidents_oldest_first(store: Store) -> None:
    clock = SteppingClock()
    second = _incident("inc-b", clock=SteppingClock(clock.now() + timedelta(seconds=5)), caller_index=1)
    _add(store, second, "h:102")
    _add(store, _incident("inc-a", clock=clock), KEY)
    closed = _incident("inc-c", clock=clock, caller_index=2)
    _add(store, closed, "h:103")
    _change(store, "inc-c", lambda i, at: i.cancel(Actor("household", "王德福"), at), clock.now())
    assert store.open_incident_ids() == ["inc-a", "inc-b"]


def test_due_escalations_of_alerting_incidents(store: Store) -> None:
    clock = SteppingClock()
    incident = _incident(clock=clock)
    _add(store, incident)
    assert incident.next_escalation_at is not None
    assert store.due_escalations(incident.next_escalation_at - timedelta(seconds=1)) == []
    assert store.due_escalations(incident.next_escalation_at) == [(incident.id, 1, incident.escalation_token)]
    _change(store, incident.id, lambda i, at: i.cancel(Actor("household", "张建国"), at), clock.now())
    assert store.due_escalations(incident.next_escalation_at) == []


def test_overdue_escalations_and_legs_oldest_first(store: Store) -> None:
    clock = SteppingClock()
    incident = _incident(clock=clock)
    _add(store, incident)
    grace = timedelta(seconds=10)
    assert store.overdue(clock.now() + grace, grace) == []
    escalation = incident.next_escalation_at
    assert escalation is not None
    now = escalation + timedelta(seconds=11)
    found = store.overdue(now, grace)
    assert len(found) == len(incident.legs) + 1 and found[-1].what == "escalation to level 1"
    assert found[-1].due_at == escalation and found[-1].late_by == timedelta(seconds=11)
    assert {item.what for item in found[:-1]} == {f"leg {leg_id}" for leg_id in incident.legs}
    assert all(item.late_by == now - incident.opened_at for item in found[:-1])

    def place_then_cancel(i: Incident, at: datetime) -> None:
        i.record_outcome(_call_ids(i)[0], LegStatus.DIALING, at, shipped_policy())
        i.cancel(Actor("household", "张建国"), at)
    _change(store, incident.id, place_then_cancel, clock.now())
    assert [leg.purpose for leg in _get(store, incident.id).pending_legs()] == ["cancellation"]  # late, too
    assert store.overdue(now, grace) == []  # but of a closed incident


def test_appended_events_join_the_timeline(store: Store) -> None:
    incident = _incident()
    _add(store, incident)
    at = incident.opened_at + timedelta(seconds=12)
    store.append_events(incident.id, [IncidentEvent(at, "audit_overdue", "auditor", {"what": "x", "due_at": at})])
    last = store.timeline(incident.id)[-1]
    assert (last.kind, last.actor, last.at, last.data) == ("audit_overdue", "auditor", at,
                                                           {"what": "x", "due_at": at.isoformat()})


class _Pause:
    """Where the first writer waits, written and not committed, while the second one tries."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.go = threading.Event()

    def wait(self) -> None:
        self.reached.set()
        self.go.wait(10)


def _race_writes(first: Callable[[], None], second: Callable[[], None], pause: _Pause) -> list[str]:
    """``first`` writes and pauses before its commit; ``second`` runs meanwhile in its own thread (a SQL
    writer waits there for the first's lock, the fake does not); then ``first`` commits."""
    outcomes: dict[str, str] = {}

    def run(name: str, work: Callable[[], None]) -> None:
        try:
            work()
            outcomes[name] = "stored"
        except ConcurrentUpdateError:
            outcomes[name] = "refused"
    one = threading.Thread(target=run, args=("first", first))
    one.start()
    assert pause.reached.wait(10)
    two = threading.Thread(target=run, args=("second", second))
    two.start()
    two.join(0.5)
    pause.go.set()
    one.join(30)
    two.join(30)
    return [outcomes["first"], outcomes["second"]]


def test_unreported_sms_are_the_submitted_texts_older_than_the_window_oldest_first(store: Store) -> None:
    incident = _incident()
    _add(store, incident)
    texts = sorted(leg.id for leg in incident.legs.values() if leg.channel is Channel.SMS)
    first, second, delivered = texts[:3]
    start = incident.opened_at
    for leg_id, offset in ((second, 2), (first, 1), (delivered, 1)):
        _change(store, incident.id, lambda i, at, leg_id=leg_id: i.record_outcome(
            leg_id, LegStatus.SUBMITTED, at, shipped_policy()), start + timedelta(seconds=offset))
    _change(store, incident.id, lambda i, at: i.record_outcome(delivered, LegStatus.DELIVERED, at, shipped_policy()),
            start + timedelta(seconds=3))
    assert store.unreported_sms(start + timedelta(seconds=1)) == []
    assert [ref.leg_id for ref in store.unreported_sms(start + timedelta(seconds=10))] == [first, second]
    assert [ref.leg_id for ref in store.unreported_sms(start + timedelta(seconds=10), limit=1)] == [first]
    assert {ref.incident_id for ref in store.unreported_sms(start + timedelta(seconds=10))} == {incident.id}

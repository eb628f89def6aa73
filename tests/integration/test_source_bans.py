"""A source making too many unverified presses is banned, through ``IncidentEngine.key_press`` on SQLite
and PostgreSQL: its incidents stay held (the hold no longer ends by itself), the ban and the lines'
press limits outlive a restart of the service, and an operator can lift the ban."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import Engine

from callcenter.db.incident_repo import SqlIncidentStore
from callcenter.db.press_ledger_repo import SqlPressRecords
from callcenter.domain.policy import SourceLimit
from callcenter.domain.types import CallerTrust
from callcenter.service.engine import EnginePorts, EngineRules, IncidentEngine
from callcenter.service.press_ledger import PressLedger
from tests.integration.test_engine_sql import CALLER, Rig, make_rig

ATTACKER, OTHER = "192.0.2.66", "192.0.2.7"
LIMIT = SourceLimit()  # the shipped default: 5 unverified presses in 10 minutes, then banned for an hour


@pytest.fixture
def rig(database_url: str) -> Iterator[Rig]:
    for made in make_rig(database_url):
        made.engine.presses = PressLedger.restored(SqlPressRecords(made.store.engine), made.clock.now())
        yield made


def restarted(rig: Rig) -> IncidentEngine:
    """The same service after a restart: a new engine and ledger over the same database."""
    engine: Engine = rig.store.engine
    again = IncidentEngine(
        EnginePorts(store=SqlIncidentStore(engine), directory=rig.engine.directory, channels=rig.engine.channels,
                    timers=rig.timers, clock=rig.clock, events=rig.bus),
        EngineRules(policy=rig.engine.policy, templates=rig.engine.templates, phone_policy=rig.engine.phone_policy),
        holder="test#2", presses=PressLedger.restored(SqlPressRecords(engine), rig.clock.now()))
    return again


def spoof(engine: IncidentEngine, n: int, source: str = ATTACKER) -> str:
    """An unverified press from ``source`` claiming line ``n`` (each a different number)."""
    return engine.key_press(f"+86717620{n:04d}", CallerTrust.UNVERIFIED, source=source).id


def test_the_press_over_the_limit_bans_the_source_and_its_incidents_stay_held(rig: Rig) -> None:
    before = [spoof(rig.engine, n) for n in range(LIMIT.presses)]
    for incident_id in before:
        assert rig.engine._load(incident_id).next_escalation_at is not None  # the hold would end by itself
    banning = spoof(rig.engine, 99)
    for incident_id in [*before, banning]:
        incident = rig.engine._load(incident_id)
        assert incident.is_held and incident.next_escalation_at is None, incident_id
        assert [e.kind for e in rig.store.timeline(incident_id)].count("hold_kept") == 1
    rig.clock.advance(3600)
    rig.fire_timers()
    assert all(rig.engine._load(i).is_held for i in [*before, banning])
    assert rig.calls.sent_to() == [] and rig.sms.sent_to() == []  # not one neighbour rung or texted


def test_another_source_and_verified_presses_are_not_limited(rig: Rig) -> None:
    for n in range(LIMIT.presses + 1):
        spoof(rig.engine, n)
    other = rig.engine._load(spoof(rig.engine, 500, source=OTHER))
    assert other.next_escalation_at is not None  # its hold ends as usual
    genuine = rig.engine.key_press(CALLER, CallerTrust.TRUNK, source=ATTACKER)
    assert genuine.level == 0 and rig.calls.sent_to()  # a trunk press from behind the same NAT fans out


def test_the_ban_and_the_line_limit_survive_a_restart(rig: Rig) -> None:
    for n in range(LIMIT.presses + 1):
        spoof(rig.engine, n)
    for _ in range(3):
        rig.engine.key_press(CALLER, CallerTrust.LOCAL)  # the line's three counted presses this minute
    again = restarted(rig)
    record = again.presses.source(ATTACKER)
    assert record is not None and record.banned(rig.clock.now())
    later = again._load(spoof(again, 200))
    assert later.is_held and later.next_escalation_at is None
    level = again._load(again.key_press(CALLER, CallerTrust.LOCAL).id).level
    assert level == 2  # the fourth press in the minute did not climb, after the restart as before


def test_a_lifted_ban_lets_the_source_start_afresh(rig: Rig) -> None:
    for n in range(LIMIT.presses + 1):
        spoof(rig.engine, n)
    lifted = rig.engine.presses.lift(ATTACKER, rig.clock.now())
    assert lifted is not None and lifted[0].banned(rig.clock.now()) and not lifted[1].banned(rig.clock.now())
    assert rig.engine._load(spoof(rig.engine, 300)).next_escalation_at is not None
    assert not restarted(rig).presses.source(ATTACKER).banned(rig.clock.now())  # type: ignore[union-attr]


def test_the_ban_ends_after_its_time(rig: Rig) -> None:
    rig.engine.policy = replace(rig.engine.policy, source_limit=SourceLimit(presses=1, ban=LIMIT.ban))
    spoof(rig.engine, 1)
    spoof(rig.engine, 2)
    rig.clock.advance(LIMIT.ban.total_seconds() + 1)
    assert rig.engine._load(spoof(rig.engine, 3)).next_escalation_at is not None


def test_the_operators_list_reads_every_source_from_the_database(rig: Rig) -> None:
    for n in range(LIMIT.presses + 2):
        spoof(rig.engine, n)
    [record] = SqlPressRecords(rig.store.engine).sources()
    assert record.source == ATTACKER and record.presses_while_banned == 2
    assert len(record.incidents) == LIMIT.presses + 2 and record.lines[-1] == "+867176200006"


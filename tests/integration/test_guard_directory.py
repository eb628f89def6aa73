"""Toll-fraud guard on real storage (SQLite and PostgreSQL): the directory question, a forged
recipient refused at the channel choke point with escalation going on, and the console call-back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import SQLModel

from callcenter.adapters.events import EventBus
from callcenter.adapters.fakes import FakeChannel, FakeTimers, SteppingClock
from callcenter.bootstrap import build
from callcenter.db.directory_repo import SqlDirectory
from callcenter.db.engine import make_engine, migrate
from callcenter.db.incident_repo import SqlIncidentStore
from callcenter.db.tables import scope_key
from callcenter.domain.types import CallerTrust, Channel
from callcenter.policies import load_policy, load_templates
from callcenter.service.callback import CallBackError
from callcenter.service.engine import EnginePorts, EngineRules, IncidentEngine
from callcenter.service.guard import GuardedChannel, KnownNumbers
from callcenter.settings import load_settings
from contacts.model import CallerLookup, Responder, Role, ScopeLevel
from contacts.phones import PhonePolicy

CONFIG = Path(__file__).resolve().parents[2] / "config"
LINE, NEIGHBOUR, GRID_WORKER = "+867176123456", "+8613800000002", "+8613800000003"
FORGED = "+8613700000099"  # on no roster: planted into a lookup to prove the channel refuses it
OPERATOR = "+8613900009951"  # a demo operator phone of config/callcenter.toml


def _responder(rid: int, phone: str, role: str, level: str, scope_id: int, household: int | None) -> dict[str, Any]:
    return {"id": rid, "name": f"r{rid}", "phone": phone, "role": role, "scope_level": level,
            "scope_id": scope_id, "scope_key": scope_key(level, scope_id), "household_id": household, "position": 0}


ROWS: dict[str, list[dict[str, Any]]] = {
    "town": [{"id": 1, "name": "小溪塔街道"}],
    "village": [{"id": 2, "town_id": 1, "name": "石门村"}],
    "grid": [{"id": 3, "village_id": 2, "name": "第一网格"}],
    "joint_defense_group": [{"id": 4, "grid_id": 3, "name": "一组"}],
    "household": [{"id": hid, "code": f"SMC-{hid}", "group_id": 4, "head": f"户主{hid}", "label": f"户{hid}",
                   "address": f"石门村一组{hid}号", "care_flags": [], "residents": [], "key_holders": [], "notes": ""}
                  for hid in (7, 8)],
    "emergency_line": [{"number": LINE, "household_id": 7}, {"number": "8008", "household_id": 8}],
    "responder": [_responder(2, NEIGHBOUR, "household_contact", "group", 4, 8),
                  _responder(4, GRID_WORKER, "grid_worker", "grid", 3, None)],
}


def _fill(db: Engine) -> None:
    with db.begin() as conn:
        for name, rows in ROWS.items():
            conn.execute(SQLModel.metadata.tables[name].insert(), rows)


@pytest.fixture
def directory(database_url: str) -> Iterator[SqlDirectory]:
    migrate(database_url)
    db = make_engine(database_url)
    _fill(db)
    found = SqlDirectory(db, PhonePolicy())
    yield found
    found.close()
    db.dispose()


@pytest.mark.parametrize(("number", "known"), [
    (LINE, True), ("0717-6123456", True), ("8008", True), (NEIGHBOUR, True), ("13800000003", True),
    (FORGED, False), ("8009", False), ("not a number", False), ("", False),
])
def test_directory_knows_lines_and_responders(directory: SqlDirectory, number: str, known: bool) -> None:
    assert directory.is_known_number(number) is known


class ForgedDirectory:
    """The real lookup with a planted neighbour: as if a roster import had been tampered with."""

    def __init__(self, real: SqlDirectory) -> None:
        self.real = real

    def household_by_caller(self, number: str) -> CallerLookup | None:
        found = self.real.household_by_caller(number)
        assert found is not None
        planted = Responder(99, "冒名邻居", FORGED, Role.HOUSEHOLD_CONTACT, ScopeLevel.GROUP, 4, 8)
        return replace(found, neighbours=(*found.neighbours, planted))


def test_forged_recipient_is_refused_recorded_and_escalation_goes_on(database_url: str,
                                                                    directory: SqlDirectory) -> None:
    db = make_engine(database_url)
    clock, timers = SteppingClock(), FakeTimers()
    known = KnownNumbers(directory, frozenset(), PhonePolicy(), clock)
    calls, sms = FakeChannel("fake-call"), FakeChannel("fake-sms")
    store = SqlIncidentStore(db)
    engine = IncidentEngine(
        EnginePorts(store=store, directory=ForgedDirectory(directory), channels={
            Channel.CALL: GuardedChannel(calls, known.refusal), Channel.SMS: GuardedChannel(sms, known.refusal)},
            timers=timers, clock=clock, events=EventBus()),
        EngineRules(policy=load_policy(CONFIG / "escalation.yaml"), templates=load_templates(CONFIG / "messages.yaml"),
                    phone_policy=PhonePolicy()),
        holder="test#1",
    )
    try:
        incident = engine.key_press(LINE, CallerTrust.LOCAL)
        legs = {(leg.recipient_phone, leg.channel): leg for leg in store.legs(incident.id) if leg.attempt == 1}
        assert FORGED not in calls.sent_to() + sms.sent_to()
        assert calls.sent_to() == [NEIGHBOUR] and set(sms.sent_to()) == {GRID_WORKER, NEIGHBOUR}
        for channel in ("call", "sms"):
            refused = legs[(FORGED, channel)]
            assert refused.status == "failed"
            assert "DestinationRefused" in refused.detail and "toll-fraud guard" in refused.detail
            assert FORGED not in refused.detail
        assert legs[(NEIGHBOUR, "call")].status == "dialing"
        assert f"escalate:{incident.id}" in timers.jobs  # the incident still climbs if nobody confirms
        clock.advance(60)
        for timer in timers.due(clock.now()):
            if timer.kind == "escalate":
                engine.escalation_timer(timer.incident_id, timer.level, timer.token)
        assert store.legs(incident.id) and engine._load(incident.id).level == 1
    finally:
        db.dispose()


def test_console_call_back_rings_only_operator_phones_and_known_lines(database_url: str, tmp_path: Path) -> None:
    container = build(load_settings(database_url=database_url, data_dir=tmp_path))
    container.init_db()
    try:
        _fill(container.engine)
        assert container.call_back.call_back(OPERATOR, LINE, "i1").startswith("simulated-callback-")
        with pytest.raises(CallBackError, match="operator's phone"):
            container.call_back.call_back(FORGED, LINE, "i1")
        with pytest.raises(CallBackError, match="household line"):
            container.call_back.call_back(OPERATOR, FORGED, "i1")
        assert container.known_numbers.refusal(NEIGHBOUR) is None
    finally:
        container.close()


def test_cached_answer_expires(directory: SqlDirectory) -> None:
    clock = SteppingClock()
    known = KnownNumbers(directory, frozenset(), PhonePolicy(), clock, ttl=timedelta(seconds=5))
    assert known.refusal(NEIGHBOUR) is None
    clock.advance(6)
    assert known.refusal(NEIGHBOUR) is None

"""An inbound call's flow on the real incident engine and database: type, cancellation, silent-call note."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from callcenter.adapters.events import EventBus
from callcenter.adapters.fakes import FakeChannel, FakeTimers, SteppingClock
from callcenter.adapters.memory import MemoryDirectory
from callcenter.db.engine import make_engine, migrate
from callcenter.db.incident_repo import SqlIncidentStore
from callcenter.domain.types import CallerId, CallerTrust, Channel
from callcenter.ivr.caller_incidents import CallerIncidents
from callcenter.ivr.engine_actions import EngineIncidentActions
from callcenter.ivr.fakes import FakeCallMedia, FakePromptAudio
from callcenter.ivr.flowfile import load_flows
from callcenter.ivr.handlers import inbound_handler
from callcenter.policies import load_policy, load_templates
from callcenter.service.engine import EnginePorts, EngineRules, IncidentEngine
from contacts.phones import PhonePolicy

ROOT = Path(__file__).resolve().parents[2]
CALLER = "13907170001"  # not in the directory: an unknown caller still gets an incident and the flow


@pytest.fixture
def engine(database_url: str) -> Iterator[tuple[IncidentEngine, SqlIncidentStore]]:
    migrate(database_url)
    db = make_engine(database_url)
    store = SqlIncidentStore(db)
    yield IncidentEngine(
        EnginePorts(store=store, directory=MemoryDirectory(),
                    channels={Channel.CALL: FakeChannel("fake-call"), Channel.SMS: FakeChannel("fake-sms")},
                    timers=FakeTimers(), clock=SteppingClock(), events=EventBus()),
        EngineRules(policy=load_policy(ROOT / "config" / "escalation.yaml"),
                    templates=load_templates(ROOT / "config" / "messages.yaml"), phone_policy=PhonePolicy()),
        holder="test#1",
    ), store
    db.dispose()


def call(engine: IncidentEngine, tmp_path: Path, media: FakeCallMedia) -> str:
    """What the channel does: open the incident on the INVITE, remember it, run the inbound handler."""
    calls = CallerIncidents()
    # on the INVITE, before answering
    calls.emergency_opener(engine.key_press)(CallerId("+86" + media.remote_number, CallerTrust.LOCAL))
    found = calls(media.remote_number)
    assert found is not None
    actions = EngineIncidentActions(engine, tmp_path / "recordings")
    inbound_handler(actions, calls, FakePromptAudio(), load_flows(ROOT / "ivr_flows"))(media)
    return found.incident_id


def test_press_then_3_stores_medical_and_the_incident_stays_open(
        engine: tuple[IncidentEngine, SqlIncidentStore], tmp_path: Path) -> None:
    incidents, store = engine
    incident_id = call(incidents, tmp_path, FakeCallMedia(CALLER, digits=[(8.0, "3")], hang_up_at=40.0))
    row = store.incident_row(incident_id)
    assert (row.emergency_type, row.status) == ("medical", "alerting")
    kinds = [event.kind for event in store.timeline(incident_id)]
    assert "type_set" in kinds


def test_press_9_and_confirm_cancels_the_incident(engine: tuple[IncidentEngine, SqlIncidentStore],
                                                  tmp_path: Path) -> None:
    incidents, store = engine
    incident_id = call(incidents, tmp_path, FakeCallMedia(CALLER, digits=[(8.0, "9"), (14.0, "1")]))
    assert store.incident_row(incident_id).status == "cancelled"
    cancelled = [e for e in store.timeline(incident_id) if e.kind == "cancelled"]
    assert len(cancelled) == 1 and cancelled[0].actor.startswith("household")


def test_a_silent_call_is_noted_for_the_operators(engine: tuple[IncidentEngine, SqlIncidentStore],
                                                  tmp_path: Path) -> None:
    incidents, store = engine
    incident_id = incidents.key_press(CALLER, CallerTrust.LOCAL).id
    EngineIncidentActions(incidents, tmp_path).note_silent_call(incident_id)
    notes = [e for e in store.timeline(incident_id) if e.kind == "note"]
    assert "无声来电" in notes[0].data["text"] and store.incident_row(incident_id).emergency_type == "unknown"

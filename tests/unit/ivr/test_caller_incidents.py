"""The live inbound calls' incidents, remembered by the channel and found by the inbound handler."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from callcenter.domain.incident import Incident
from callcenter.domain.plan import plan_fan_out
from callcenter.domain.types import Actor, CallerId, CallerTrust, EmergencyType
from callcenter.ivr.caller_incidents import CallerIncidents, number_key
from callcenter.ivr.fakes import FakeCallMedia, FakeIncidentActions, FakePromptAudio
from callcenter.ivr.flowfile import load_flows
from callcenter.ivr.handlers import inbound_handler
from callcenter.policies import load_policy

ROOT = Path(__file__).resolve().parents[3]
POLICY = load_policy(ROOT / "config" / "escalation.yaml")
AT = datetime(2026, 3, 14, 1, 30, tzinfo=UTC)
NUMBER = "+8613907170001"


def incident(emergency_type: EmergencyType = EmergencyType.UNKNOWN) -> Incident:
    opened = Incident.open("20260314-0001", NUMBER, 7, "张建国家", "张家口村3组12号",
                           plan_fan_out(None, POLICY, NUMBER), POLICY, AT, trust=CallerTrust.TRUNK)
    if emergency_type is not EmergencyType.UNKNOWN:
        opened.set_type(emergency_type, Actor("operator"), AT)
    return opened


def test_a_remembered_incident_is_found_with_its_facts_then_forgotten() -> None:
    calls = CallerIncidents()
    calls.remember("13907170001", incident(EmergencyType.FIRE))
    found = calls("13907170001")
    assert found is not None and found.incident_id == "20260314-0001"
    assert found.facts["label"] == "张建国家" and found.facts["address"] == "张家口村3组12号"
    assert (found.facts["emergency_type"], found.facts["type"]) == ("fire", "火灾")
    assert calls("13907170002") is None
    calls.forget("13907170001")
    assert calls("13907170001") is None and len(calls) == 0


def test_the_inbound_handler_finds_the_incident_the_channel_opened() -> None:
    calls = CallerIncidents()
    calls.remember("13907170001", incident())
    actions = FakeIncidentActions()
    handler = inbound_handler(actions, calls, FakePromptAudio(), load_flows(ROOT / "ivr_flows"))
    handler(FakeCallMedia("13907170001", digits=[(8.0, "2")], hang_up_at=30.0))
    assert actions.calls == [("set_type", "20260314-0001", "theft")]


@pytest.mark.parametrize(("dialled", "seen"), [
    ("+8613907170001", "13907170001"), ("sip:13907170001@127.0.0.1", "008613907170001"),
    ("0717-6123456", "+86 717 6123456"), ("995", "sip:995@pbx"),
])
def test_a_number_is_found_whatever_form_the_channel_sees(dialled: str, seen: str) -> None:
    calls = CallerIncidents()
    calls.remember(dialled, incident())
    assert calls(seen) is not None


def test_different_numbers_stay_apart_and_the_oldest_are_dropped_beyond_the_limit() -> None:
    calls = CallerIncidents(limit=2)
    for number in ("13907170001", "13907170002", "13907170003"):
        calls.remember(number, incident())
    assert calls("13907170001") is None and calls("13907170003") is not None and len(calls) == 2
    assert number_key("13907170001") != number_key("13907170011")


def test_the_emergency_opener_presses_and_remembers() -> None:
    calls = CallerIncidents()
    pressed: list[str] = []

    def key_press(number: str, trust: CallerTrust, *, source: str = "") -> Incident:
        pressed.append(f"{number} {trust} {source}")
        return incident(EmergencyType.MEDICAL)

    calls.emergency_opener(key_press)(CallerId("+8613907170001", CallerTrust.TRUNK, "192.0.2.7"))
    found = calls("13907170001")
    assert pressed == ["+8613907170001 trunk 192.0.2.7"] and found is not None and found.facts["type"] == "急病或受伤"

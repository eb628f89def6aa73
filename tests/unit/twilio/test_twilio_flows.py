"""The IVR flows rendered as TwiML (pure: flow engine in, TwiML out)."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest

from callcenter.ivr.engine import Digits, FlowEngine, FlowState, TimedOut, decode_state
from callcenter.ivr.flowfile import ALERT_FLOW, INBOUND_FLOW, FlowSet, load_flows
from callcenter.twilio.flows import TwimlRenderer, decode_facts, encode_facts, event_of, facts_after

FLOWS_DIR = Path(__file__).resolve().parents[3] / "ivr_flows"
FACTS = {"label": "三组 张桂兰家", "address": "张家村三组1号", "caller": "0717-6100000", "recipient": "邻居1",
         "emergency_type": "fire", "type": "火灾"}


@pytest.fixture(scope="module")
def flows() -> FlowSet:
    return load_flows(FLOWS_DIR)


def _next(state: FlowState, event: str) -> str:
    return f"https://example.org/next?event={event}&step={state.step}"


def test_alert_start_speaks_inside_the_gather_and_redirects_on_time_out(flows: FlowSet) -> None:
    turn = FlowEngine(flows[ALERT_FLOW]).start(FACTS)
    root = ElementTree.fromstring(TwimlRenderer().render(turn, _next))
    gather, redirect = root.find("Gather"), root.find("Redirect")
    assert gather is not None and redirect is not None
    assert gather.get("numDigits") == "1" and "event=digits" in (gather.get("action") or "")
    says = [s.text or "" for s in gather.iter("Say")]
    assert any("张桂兰" in s and "张家村三组1号" in s and "火灾" in s for s in says)
    assert all(s.get("language") == "zh-CN" for s in gather.iter("Say"))
    assert "event=timeout" in (redirect.text or "")


def test_recorded_prompts_are_played_and_dynamic_text_is_spoken(flows: FlowSet) -> None:
    turn = FlowEngine(flows[ALERT_FLOW]).start(FACTS)
    root = ElementTree.fromstring(TwimlRenderer("https://cdn.example.org/prompts/").render(turn, _next))
    assert [p.text for p in root.iter("Play")] == ["https://cdn.example.org/prompts/alert_menu.wav"]
    assert any("张桂兰" in (s.text or "") for s in root.iter("Say"))


def test_key_one_ends_with_thanks_and_hangup(flows: FlowSet) -> None:
    engine = FlowEngine(flows[ALERT_FLOW])
    turn = engine.handle(engine.start(FACTS).state, Digits("1"), FACTS)
    document = TwimlRenderer().render(turn, _next)
    assert "谢谢" in document and "请前往" in document and document.endswith("<Hangup /></Response>")
    assert turn.state.outcome == "acknowledge"


def test_inbound_type_key_changes_the_facts_for_later_turns(flows: FlowSet) -> None:
    engine = FlowEngine(flows[INBOUND_FLOW])
    start = engine.start({**FACTS, "emergency_type": "unknown", "type": "类型未知"})
    turn = engine.handle(start.state, Digits("3"), FACTS)
    assert facts_after(turn, FACTS)["emergency_type"] == "medical"


def test_silence_leads_to_a_recording(flows: FlowSet) -> None:
    engine = FlowEngine(flows[INBOUND_FLOW])
    state = engine.start(FACTS).state
    state = engine.handle(state, TimedOut(), FACTS).state  # the menu is asked twice
    turn = engine.handle(state, TimedOut(), FACTS)
    root = ElementTree.fromstring(TwimlRenderer().render(turn, _next))
    record = root.find("Record")
    assert record is not None and record.get("finishOnKey") == "#" and "event=recorded" in (record.get("action") or "")


def test_tokens_round_trip_and_bad_tokens_are_refused() -> None:
    assert decode_facts(encode_facts(FACTS)) == FACTS
    with pytest.raises(ValueError):
        decode_facts("not-a-token")
    with pytest.raises(ValueError):
        decode_state("bm9wZQ")


def test_events_from_webhook_fields() -> None:
    assert event_of("digits", {"Digits": "2"}) == Digits("2")
    assert event_of("digits", {}) == TimedOut()
    assert event_of("timeout", {"Digits": "2"}) == TimedOut()
    assert event_of("recorded", {"RecordingDuration": "7"}).seconds == 7.0  # type: ignore[union-attr]

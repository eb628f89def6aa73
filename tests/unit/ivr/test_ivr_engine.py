"""The pure flow engine on the shipped flows: events in, commands out, state serialisable."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.ivr.engine import (
    CollectDigits,
    Command,
    Digits,
    DoAction,
    EndCall,
    FlowEngine,
    FlowRuntimeError,
    FlowState,
    HungUp,
    RecordingDone,
    Say,
    SetIncidentField,
    StartRecording,
    TimedOut,
    Turn,
    apply_field,
    decode_state,
    encode_state,
    render_text,
)
from callcenter.ivr.flow import Action, Flow, FlowError, FlowKind, Goto, Step
from callcenter.ivr.flowfile import load_flows
from callcenter.ivr.flowparse import parse_flow

FLOWS = load_flows(Path(__file__).resolve().parents[3] / "ivr_flows")
FACTS = {"label": "张家口村三组 张建国家", "address": "张家口村3组12号", "caller": "139 0717 0001",
         "type": "火灾", "emergency_type": "fire", "recipient": "李秀英"}
UNTYPED = {**FACTS, "type": "类型未知", "emergency_type": "unknown"}


def inbound() -> FlowEngine:
    return FlowEngine(FLOWS["emergency_inbound"])


def alert() -> FlowEngine:
    return FlowEngine(FLOWS["alert_outbound"])


def prompts(commands: tuple[Command, ...]) -> list[str]:
    return [c.prompt or c.text for c in commands if isinstance(c, Say)]


def kinds(commands: tuple[Command, ...]) -> list[type]:
    return [type(c) for c in commands]


def test_inbound_starts_with_the_reassurance_then_the_menu() -> None:
    turn = inbound().start(FACTS)
    assert prompts(turn.commands) == ["received", "menu"]
    assert turn.commands[-1] == CollectDigits(1, 6.0)
    assert turn.state.step == "menu" and not turn.state.done


@pytest.mark.parametrize(("key", "kind"), [("1", "fire"), ("2", "theft"), ("3", "medical"), ("4", "other")])
def test_a_menu_key_sets_the_emergency_type_and_keeps_the_line(key: str, kind: str) -> None:
    engine = inbound()
    turn = engine.handle(engine.start(FACTS).state, Digits(key), FACTS)
    assert turn.commands[0] == SetIncidentField("emergency_type", kind)
    assert prompts(turn.commands) == ["typed", "reassure"]
    assert turn.state.step == "reassure"


def test_no_key_twice_is_a_silent_emergency_that_records_the_caller() -> None:
    engine = inbound()
    first = engine.handle(engine.start(FACTS).state, TimedOut(), FACTS)
    assert prompts(first.commands) == ["menu"] and first.state.attempt == 1
    second = engine.handle(first.state, TimedOut(), FACTS)
    assert second.commands[0] == DoAction(Action.NOTE_SILENT_CALL)
    assert not any(isinstance(c, SetIncidentField) for c in second.commands)
    assert second.commands[-1] == StartRecording(20.0, "#")
    assert (engine.expects(first.state), engine.expects(second.state)) == ("digits", "recording")
    after = engine.handle(second.state, RecordingDone(20.0), FACTS)
    assert prompts(after.commands) == ["reassure"]


def test_nine_needs_a_confirmation_before_the_incident_is_cancelled() -> None:
    engine = inbound()
    asked = engine.handle(engine.start(FACTS).state, Digits("9"), FACTS)
    assert prompts(asked.commands) == ["confirm_cancel"]
    assert not any(isinstance(c, DoAction) for c in asked.commands)
    confirmed = engine.handle(asked.state, Digits("9"), FACTS)
    assert confirmed.commands[0] == DoAction(Action.CANCEL_INCIDENT)
    assert isinstance(confirmed.commands[-1], EndCall) and confirmed.state.done


@pytest.mark.parametrize("event", [TimedOut(), Digits("5")])
def test_an_unconfirmed_cancel_keeps_the_emergency_going(event: TimedOut | Digits) -> None:
    engine = inbound()
    asked = engine.handle(engine.start(FACTS).state, Digits("9"), FACTS)
    kept = engine.handle(asked.state, event, FACTS)
    assert not any(isinstance(c, DoAction) for c in kept.commands)
    assert prompts(kept.commands) == ["not_cancelled", "reassure"]


def test_the_reassurance_loop_is_bounded_and_ends_with_a_goodbye() -> None:
    engine = inbound()
    turn = engine.handle(engine.start(FACTS).state, Digits("3"), FACTS)
    rounds = 0
    while not turn.state.done:
        turn = engine.handle(turn.state, TimedOut(), FACTS)
        rounds += 1
        assert rounds < 50
    assert rounds == 13  # the first round plus 12 repeats
    assert prompts(turn.commands) == ["goodbye"] and isinstance(turn.commands[-1], EndCall)


def test_alert_announces_who_where_and_the_type_when_known() -> None:
    turn = alert().start(FACTS)
    first = turn.commands[0]
    assert isinstance(first, Say) and first.prompt is None
    assert "张家口村三组 张建国家" in first.text and "张家口村3组12号" in first.text and "火灾" in first.text
    untyped = alert().start(UNTYPED).commands[0]
    assert isinstance(untyped, Say) and "类型未知" not in untyped.text and "张家口村3组12号" in untyped.text


@pytest.mark.parametrize(("key", "action", "prompt"), [("1", Action.ACKNOWLEDGE, "coming"),
                                                         ("2", Action.DECLINE, "not_coming")])
def test_alert_key_acknowledges_or_declines(key: str, action: Action, prompt: str) -> None:
    engine = alert()
    turn = engine.handle(engine.start(FACTS).state, Digits(key), FACTS)
    assert turn.commands[0] == DoAction(action)
    assert prompts(turn.commands)[0] == prompt
    assert turn.state.done and turn.state.outcome == action.value


def test_after_1_the_confirmation_says_the_address_again() -> None:
    """Issue #23: a neighbour who pressed 1 early cut the announcement before the address, and the
    thanks did not say where to go."""
    engine = alert()
    turn = engine.handle(engine.start(FACTS).state, Digits("1"), FACTS)
    said = prompts(turn.commands)
    assert said[0] == "coming" and "张家口村3组12号" in said[-1] and "张家口村三组 张建国家" in said[-1]
    declined = engine.handle(engine.start(FACTS).state, Digits("2"), FACTS)
    assert not any("张家口村3组12号" in text for text in prompts(declined.commands))


def test_alert_without_a_key_repeats_twice_then_hangs_up_without_outcome() -> None:
    engine = alert()
    turn = engine.start(FACTS)
    announcements = 1
    while not turn.state.done:
        turn = engine.handle(turn.state, TimedOut(), FACTS)
        announcements += sum(1 for c in turn.commands if isinstance(c, Say) and c.prompt is None)
    assert announcements == 3
    assert prompts(turn.commands)[-1] == "no_key" and turn.state.outcome == ""


def test_alert_zero_repeats_the_announcement() -> None:
    engine = alert()
    turn = engine.handle(engine.start(FACTS).state, Digits("0"), FACTS)
    assert kinds(turn.commands) == [Say, Say, CollectDigits]
    assert "张家口村3组12号" in render_text("{address}", FACTS)


def test_hang_up_ends_the_flow_without_commands() -> None:
    engine = alert()
    turn = engine.handle(engine.start(FACTS).state, HungUp(), FACTS)
    assert turn == Turn(FlowState("menu", done=True), ())
    assert engine.handle(turn.state, Digits("1"), FACTS).commands == ()


def test_an_event_the_waiting_step_does_not_expect_changes_nothing() -> None:
    engine = inbound()
    state = engine.start(FACTS).state
    assert engine.handle(state, RecordingDone(3.0), FACTS) == Turn(state, ())


def test_state_survives_a_round_trip_through_a_dict_between_webhooks() -> None:
    engine = alert()
    state = engine.handle(engine.start(FACTS).state, TimedOut(), FACTS).state
    restored = FlowState.from_dict(state.to_dict())
    assert restored == state and restored.repeats == {"repeat_no_key": 1}
    assert engine.handle(restored, Digits("1"), FACTS).state.outcome == "acknowledge"


def test_setting_the_type_changes_the_words_spoken_afterwards() -> None:
    flow = parse_flow({"flow": "t", "kind": "inbound", "steps": [
        {"set": {"emergency_type": "medical"}}, {"say": "类型：{type}"}, {"hangup": True}]})
    turn = FlowEngine(flow).start(UNTYPED)
    assert Say("类型：急病或受伤") in turn.commands
    assert apply_field(UNTYPED, "emergency_type", "theft")["type"] == "盗窃或闯入"


def test_a_missing_fact_is_spoken_as_unknown_not_a_crash() -> None:
    assert render_text("{label}在{address}", {"label": "王家"}) == "王家在未知"


def test_a_loop_without_a_wait_is_refused_on_load_and_stopped_at_run_time() -> None:
    steps = [{"id": "a", "goto": "b"}, {"id": "b", "goto": "a"}]
    with pytest.raises(FlowError, match="loop back"):
        parse_flow({"flow": "t", "kind": "inbound", "steps": steps})
    built = Flow("t", FlowKind.INBOUND, {"a": Step("a", Goto("b"), None), "b": Step("b", Goto("a"), None)}, "a")
    with pytest.raises(FlowRuntimeError):
        FlowEngine(built).start(FACTS)


def test_a_gather_that_collects_several_digits_matches_the_whole_entry() -> None:
    flow = parse_flow({"flow": "t", "kind": "alert", "steps": [
        {"gather": {"digits": 2, "tries": 2, "branches": {"12": "yes"}, "on_timeout": "no"}},
        {"id": "no", "hangup": True}, {"id": "yes", "action": "acknowledge"}]})
    engine = FlowEngine(flow)
    retry = engine.handle(engine.start(FACTS).state, Digits("1"), FACTS)
    assert retry.state.attempt == 1
    assert engine.handle(retry.state, Digits("12"), FACTS).state.outcome == "acknowledge"


def test_state_travels_as_a_url_safe_token() -> None:
    engine = alert()
    state = engine.handle(engine.start(FACTS).state, TimedOut(), FACTS).state
    token = encode_state(state)
    assert token.replace("-", "").replace("_", "").isalnum()
    assert decode_state(token) == state


@pytest.mark.parametrize("token", ["", "!!!", "bm90IGpzb24", "WzEsMl0", "eyJhdHRlbXB0IjoxfQ"])
def test_a_forged_or_damaged_token_is_a_value_error(token: str) -> None:
    with pytest.raises(ValueError, match="not a flow state token"):
        decode_state(token)


def test_a_state_naming_a_step_the_flow_lacks_is_a_clear_error() -> None:
    with pytest.raises(FlowRuntimeError, match="has no step 'gone'"):
        alert().handle(FlowState("gone"), Digits("1"), FACTS)
    assert alert().expects(FlowState("gone")) == ""

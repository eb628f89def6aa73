"""Whatever a caller does, the engine never fails, its state survives a dict, and silence always ends the call."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.ivr.engine import (
    Digits,
    Event,
    FlowEngine,
    FlowState,
    HungUp,
    RecordingDone,
    TimedOut,
    apply_field,
)
from callcenter.ivr.engine import SetIncidentField as SetField
from callcenter.ivr.flowfile import load_flows

FLOWS = load_flows(Path(__file__).resolve().parents[3] / "ivr_flows")
FACTS = {"label": "张建国家", "address": "张家口村3组12号", "caller": "139 0717 0001", "type": "类型未知",
         "emergency_type": "unknown", "recipient": "李秀英"}
SILENCE_BOUND = 60  # events of silence after which every shipped flow must have ended

events = st.one_of(
    st.builds(Digits, st.text(alphabet="0123456789*#", min_size=0, max_size=3)),
    st.just(TimedOut()),
    st.builds(RecordingDone, st.floats(min_value=0, max_value=20)),
)


def silence(engine: FlowEngine, state: FlowState) -> Event:
    """What a channel reports when the caller does nothing."""
    return RecordingDone(20.0) if engine.expects(state) == "recording" else TimedOut()


@pytest.mark.parametrize("name", ["emergency_inbound", "alert_outbound"])
@settings(max_examples=150, deadline=None, database=None)
@given(script=st.lists(events, max_size=40))
def test_any_caller_behaviour_then_silence_ends_the_call(name: str, script: list[Event]) -> None:
    engine = FlowEngine(FLOWS[name])
    facts = dict(FACTS)
    turn = engine.start(facts)
    for event in script:
        if turn.state.done:
            break
        state = FlowState.from_dict(turn.state.to_dict())  # as a webhook channel would carry it
        assert state == turn.state
        turn = engine.handle(state, event, facts)
        for command in turn.commands:
            if isinstance(command, SetField):
                facts = apply_field(facts, command.name, command.value)
    for _ in range(SILENCE_BOUND):
        if turn.state.done:
            break
        turn = engine.handle(turn.state, silence(engine, turn.state), facts)
    assert turn.state.done and engine.expects(turn.state) == ""
    assert engine.handle(turn.state, HungUp(), facts).commands == ()

"""The pure flow engine: events in, commands out, no I/O, no threads, no clock.

A call's whole position in its flow is a ``FlowState`` (the step waiting for an event, its try
counter, the repeat counters and the outcome so far). It serialises to a small dict, so a channel that
lives between webhooks (TwiML) can carry it across requests, and a channel that holds the call
(SIP) keeps it in a local variable. Either way the engine decides; the channel only executes.

Facts (label, address, emergency type, ...) are passed in with every event, because setting a field
changes them mid-call; ``apply_field`` gives the facts after a ``SetIncidentField``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from callcenter.domain.types import EmergencyType
from callcenter.ivr.flow import (
    Action,
    Branch,
    Flow,
    Gather,
    Goto,
    HangUp,
    Play,
    Record,
    Repeat,
    RunAction,
    SetField,
    Speech,
    Step,
)

__all__ = [
    "SPOKEN_TYPES",
    "CollectDigits",
    "Command",
    "Digits",
    "DoAction",
    "EndCall",
    "Event",
    "FlowEngine",
    "FlowRuntimeError",
    "FlowState",
    "HungUp",
    "RecordingDone",
    "Say",
    "SetIncidentField",
    "StartRecording",
    "TimedOut",
    "Turn",
    "apply_field",
    "decode_state",
    "encode_state",
    "render_text",
]

# Steps run between two events at most; more means a loop with no wait and no repeat bound.
MAX_STEPS_PER_TURN = 500
UNKNOWN_FACT = "未知"

# The emergency type as spoken: the console's labels use "/", which a synthesizer reads out as "slash".
SPOKEN_TYPES: dict[EmergencyType, str] = {
    EmergencyType.UNKNOWN: "类型未知",
    EmergencyType.FIRE: "火灾",
    EmergencyType.THEFT: "盗窃或闯入",
    EmergencyType.MEDICAL: "急病或受伤",
    EmergencyType.OTHER: "其他情况",
}


# -- events: what happened on the call ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Started:
    pass


@dataclass(frozen=True, slots=True)
class Digits:
    digits: str


@dataclass(frozen=True, slots=True)
class TimedOut:
    pass


@dataclass(frozen=True, slots=True)
class RecordingDone:
    seconds: float


@dataclass(frozen=True, slots=True)
class HungUp:
    pass


Event = Started | Digits | TimedOut | RecordingDone | HungUp


# -- commands: what the channel must do, in order -------------------------------------------------

@dataclass(frozen=True, slots=True)
class Say:
    """Play speech: a fixed prompt by id (``text`` is its wording) or a rendered dynamic text."""

    text: str
    prompt: str | None = None


@dataclass(frozen=True, slots=True)
class CollectDigits:
    """Wait for ``count`` keys; speech queued before it may be interrupted by the first key."""

    count: int
    timeout: float


@dataclass(frozen=True, slots=True)
class StartRecording:
    max_seconds: float
    stop_digits: str


@dataclass(frozen=True, slots=True)
class SetIncidentField:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class DoAction:
    action: Action


@dataclass(frozen=True, slots=True)
class EndCall:
    pass


Command = Say | CollectDigits | StartRecording | SetIncidentField | DoAction | EndCall


@dataclass(frozen=True, slots=True)
class FlowState:
    step: str  # the step waiting for an event ("" before the start)
    attempt: int = 0  # tries used by the waiting gather
    repeats: Mapping[str, int] = field(default_factory=dict)  # per repeat step: loops taken
    outcome: str = ""  # the last acknowledge/decline action taken, if any
    done: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "attempt": self.attempt, "repeats": dict(self.repeats),
                "outcome": self.outcome, "done": self.done}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FlowState:
        repeats = {str(k): int(v) for k, v in dict(data.get("repeats", {})).items()}
        return cls(str(data["step"]), int(data.get("attempt", 0)), repeats, str(data.get("outcome", "")),
                   bool(data.get("done", False)))


def encode_state(state: FlowState) -> str:
    """The state as one URL-safe token (a webhook channel puts it in the callback URL)."""
    raw = json.dumps(state.to_dict(), separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_state(token: str) -> FlowState:
    """The state from ``encode_state``; ValueError when the token is not one."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise TypeError("not a mapping")
        return FlowState.from_dict(data)
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a flow state token: {exc}") from None


@dataclass(frozen=True, slots=True)
class Turn:
    state: FlowState
    commands: tuple[Command, ...]


class FlowRuntimeError(RuntimeError):
    """A flow looped without waiting: a flow file bug the loader could not see."""


def apply_field(facts: Mapping[str, str], name: str, value: str) -> dict[str, str]:
    """The facts after an incident field was set (the type also changes its spoken words)."""
    updated = {**facts, name: value}
    if name == "emergency_type":
        updated["type"] = SPOKEN_TYPES[EmergencyType(value)]
    return updated


def render_text(text: str, facts: Mapping[str, str]) -> str:
    """Fill {placeholders}; a fact the call lacks is spoken as 未知 rather than failing the call."""
    return text.format_map(_Facts(facts))


class _Facts(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return UNKNOWN_FACT


class FlowEngine:
    def __init__(self, flow: Flow) -> None:
        self.flow = flow

    def start(self, facts: Mapping[str, str]) -> Turn:
        return self._run(FlowState(step=""), self.flow.first, facts)

    def handle(self, state: FlowState, event: Event, facts: Mapping[str, str]) -> Turn:
        """The next turn after ``event``; an event the waiting step does not expect changes nothing."""
        if state.done:
            return Turn(state, ())
        if isinstance(event, HungUp):
            return Turn(replace(state, done=True), ())
        if state.step and state.step not in self.flow.steps:  # a state from another version of the flow
            raise FlowRuntimeError(f"flow {self.flow.name!r} has no step {state.step!r}")
        verb = self.flow.step(state.step).verb if state.step else None
        if isinstance(verb, Gather) and isinstance(event, Digits | TimedOut):
            return self._gathered(state, verb, event, facts)
        if isinstance(verb, Record) and isinstance(event, RecordingDone):
            return self._run(state, self._after(state.step), facts)
        if isinstance(event, Started) and not state.step:
            return self.start(facts)
        return Turn(state, ())

    def expects(self, state: FlowState) -> str:
        """What the waiting step needs next: "digits", "recording", or "" when the flow has ended."""
        if state.done or state.step not in self.flow.steps:
            return ""
        verb = self.flow.step(state.step).verb
        return "digits" if isinstance(verb, Gather) else "recording" if isinstance(verb, Record) else ""

    # -- gather --------------------------------------------------------------------------------

    def _gathered(self, state: FlowState, gather: Gather, event: Digits | TimedOut, facts: Mapping[str, str]) -> Turn:
        if isinstance(event, Digits) and event.digits in gather.branches:
            return self._run(state, gather.branches[event.digits], facts)
        if state.attempt + 1 < gather.tries:  # ask again: replay the prompt and wait
            retry = replace(state, attempt=state.attempt + 1)
            return Turn(retry, (*self._gather_commands(gather, facts),))
        target = gather.on_timeout if isinstance(event, TimedOut) else gather.on_invalid
        return self._run(state, target, facts)

    def _gather_commands(self, gather: Gather, facts: Mapping[str, str]) -> list[Command]:
        speech = [self._say(gather.speech, facts)] if gather.speech else []
        return [*speech, CollectDigits(gather.digits, gather.timeout)]

    # -- running steps until one waits ---------------------------------------------------------

    def _run(self, state: FlowState, step_id: str | None, facts: Mapping[str, str]) -> Turn:
        commands: list[Command] = []
        current = facts
        for _ in range(MAX_STEPS_PER_TURN):
            if step_id is None:
                return Turn(replace(state, step="", attempt=0, done=True), (*commands, EndCall()))
            step = self.flow.step(step_id)
            before = len(commands)
            state, step_id, waits = self._execute(state, step, current, commands)
            if waits:
                return Turn(state, tuple(commands))
            for command in commands[before:]:
                if isinstance(command, SetIncidentField):  # later steps speak and branch on the new value
                    current = apply_field(current, command.name, command.value)
        raise FlowRuntimeError(f"flow {self.flow.name!r} ran {MAX_STEPS_PER_TURN} steps without waiting")

    def _execute(self, state: FlowState, step: Step, facts: Mapping[str, str],
                 commands: list[Command]) -> tuple[FlowState, str | None, bool]:
        """Run one step: the new state, the step to run next, and whether the flow now waits."""
        verb = step.verb
        if isinstance(verb, Gather):
            commands.extend(self._gather_commands(verb, facts))
            return replace(state, step=step.id, attempt=0), None, True
        if isinstance(verb, Record):
            commands.append(StartRecording(verb.max_seconds, verb.stop_digits))
            return replace(state, step=step.id, attempt=0), None, True
        if isinstance(verb, Repeat):
            return self._repeat(state, step, verb)
        return self._simple(state, step, facts, commands)

    def _simple(self, state: FlowState, step: Step, facts: Mapping[str, str],
                commands: list[Command]) -> tuple[FlowState, str | None, bool]:
        verb = step.verb
        if isinstance(verb, Play):
            commands.append(self._say(verb.speech, facts))
        elif isinstance(verb, SetField):
            commands.append(SetIncidentField(verb.name, verb.value))
        elif isinstance(verb, RunAction):
            commands.append(DoAction(verb.action))
            if verb.action in (Action.ACKNOWLEDGE, Action.DECLINE):
                state = replace(state, outcome=verb.action.value)
        elif isinstance(verb, Branch):
            return state, verb.cases.get(facts.get(verb.fact, ""), verb.otherwise), False
        elif isinstance(verb, Goto):
            return state, verb.target, False
        elif isinstance(verb, HangUp):
            return state, None, False
        return state, step.next, False

    def _repeat(self, state: FlowState, step: Step, verb: Repeat) -> tuple[FlowState, str | None, bool]:
        taken = state.repeats.get(step.id, 0)
        if taken >= verb.times:
            return state, step.next, False
        return replace(state, repeats={**state.repeats, step.id: taken + 1}), verb.goto, False

    def _after(self, step_id: str) -> str | None:
        return self.flow.step(step_id).next

    def _say(self, speech: Speech, facts: Mapping[str, str]) -> Say:
        if speech.prompt is not None:
            return Say(self.flow.prompts[speech.prompt], speech.prompt)
        return Say(render_text(speech.text or "", facts))

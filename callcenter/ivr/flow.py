"""An IVR flow as data: named steps, each doing one thing, linked by step ids.

A flow is built from a plain mapping (read from YAML by ``callcenter.ivr.flowfile``) and checked as a
whole: every link names a step, every prompt exists, every placeholder is a known fact, every action is
allowed for the flow's kind. A ``FlowError`` carries the key path of the offending value so the loader
can name the file and line.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from callcenter.domain.types import EmergencyType

__all__ = [
    "ACTIONS_BY_KIND",
    "DTMF_KEYS",
    "FACTS",
    "MAX_RECORD_SECONDS",
    "MAX_REPEATS",
    "MAX_TIMEOUT_SECONDS",
    "MAX_TRIES",
    "SETTABLE_FIELDS",
    "Action",
    "Branch",
    "Flow",
    "FlowError",
    "FlowKind",
    "Gather",
    "Goto",
    "HangUp",
    "KeyPath",
    "Play",
    "Record",
    "Repeat",
    "RunAction",
    "SetField",
    "Speech",
    "Step",
    "Verb",
    "placeholders",
]

KeyPath = tuple[str | int, ...]
DTMF_KEYS = frozenset("0123456789*#")
MAX_TIMEOUT_SECONDS = 60.0
MAX_RECORD_SECONDS = 120.0
MAX_TRIES = 9
MAX_REPEATS = 100


class FlowError(ValueError):
    def __init__(self, path: KeyPath, reason: str) -> None:
        super().__init__(reason)
        self.path = path


class FlowKind(StrEnum):
    INBOUND = "inbound"  # a household's 995 call: the incident is already open
    ALERT = "alert"  # an answered alert leg to a responder


class Action(StrEnum):
    CANCEL_INCIDENT = "cancel_incident"  # the household confirmed a false alarm
    NOTE_SILENT_CALL = "note_silent_call"  # no key pressed: the operators must know the caller may not speak
    ACKNOWLEDGE = "acknowledge"  # the responder is coming
    DECLINE = "decline"  # the responder cannot come


ACTIONS_BY_KIND: dict[FlowKind, frozenset[Action]] = {
    FlowKind.INBOUND: frozenset({Action.CANCEL_INCIDENT, Action.NOTE_SILENT_CALL}),
    FlowKind.ALERT: frozenset({Action.ACKNOWLEDGE, Action.DECLINE}),
}

# Facts a text may name as {placeholder} and a branch may test. Every call provides all of them.
FACTS: dict[str, str] = {
    "label": "the household's label (e.g. 张家村3组 王秀英家)",
    "address": "the household's address",
    "caller": "the household's number as shown to people",
    "type": "the emergency type in words (火灾, 类型未知, ...)",
    "emergency_type": "the emergency type code: unknown, fire, theft, medical, other",
    "recipient": "the alerted person's name (alert flows)",
}

# Incident fields a flow may set, with the values each accepts.
SETTABLE_FIELDS: dict[str, frozenset[str]] = {
    "emergency_type": frozenset(t.value for t in EmergencyType),
}


@dataclass(frozen=True, slots=True)
class Speech:
    """What to say: a fixed prompt (rendered once, replaceable by a recording) or a text with placeholders."""

    prompt: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Play:
    speech: Speech


@dataclass(frozen=True, slots=True)
class Gather:
    speech: Speech | None
    branches: Mapping[str, str]
    on_timeout: str
    on_invalid: str
    digits: int = 1
    timeout: float = 5.0
    tries: int = 1


@dataclass(frozen=True, slots=True)
class Branch:
    fact: str
    cases: Mapping[str, str]
    otherwise: str


@dataclass(frozen=True, slots=True)
class Record:
    max_seconds: float
    stop_digits: str = "#"


@dataclass(frozen=True, slots=True)
class SetField:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class RunAction:
    action: Action


@dataclass(frozen=True, slots=True)
class Repeat:
    """Go back to ``goto`` at most ``times`` times in a call, then go on: the bound on every loop."""

    goto: str
    times: int


@dataclass(frozen=True, slots=True)
class Goto:
    target: str


@dataclass(frozen=True, slots=True)
class HangUp:
    pass


Verb = Play | Gather | Branch | Record | SetField | RunAction | Repeat | Goto | HangUp


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    verb: Verb
    next: str | None  # None: the flow ends here (the call is hung up)


@dataclass(frozen=True, slots=True)
class Flow:
    name: str
    kind: FlowKind
    steps: Mapping[str, Step]
    first: str
    prompts: Mapping[str, str] = field(default_factory=dict)

    def step(self, step_id: str) -> Step:
        return self.steps[step_id]


def placeholders(text: str) -> list[str]:
    """The {names} in ``text``; raises ValueError on a malformed brace."""
    return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]


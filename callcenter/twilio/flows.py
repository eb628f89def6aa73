"""The IVR flows (callcenter.ivr) as TwiML: one webhook request per flow turn.

Twilio holds the call between requests, so the flow's whole position (``FlowState``) and the facts
it speaks ride in the next request's URL, which Twilio signs. Each turn's commands become verbs:
speech before a key prompt goes inside ``<Gather>`` (a key interrupts it), a ``<Redirect>`` after
the Gather carries the time-out, ``<Record>`` posts its duration back, the end is ``<Hangup>``.
Incident effects (set the type, acknowledge, cancel) are run by the caller of ``render``.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from twilio.twiml.voice_response import Gather, VoiceResponse

from callcenter.ivr.engine import (
    CollectDigits,
    Digits,
    EndCall,
    Event,
    FlowState,
    RecordingDone,
    Say,
    SetIncidentField,
    StartRecording,
    TimedOut,
    Turn,
    apply_field,
)

__all__ = ["TwimlRenderer", "decode_facts", "encode_facts", "event_of", "facts_after"]

LANGUAGE = "zh-CN"
# Where the next request goes, for a state and the event it will report ("digits", "timeout", "recorded").
NextUrl = Callable[[FlowState, str], str]


def encode_facts(facts: Mapping[str, str]) -> str:
    raw = json.dumps(dict(facts), ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_facts(token: str) -> dict[str, str]:
    """Facts from ``encode_facts``; ValueError when the token is not one."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a facts token: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("not a facts token")
    return {str(k): str(v) for k, v in data.items()}


def event_of(kind: str, params: Mapping[str, str]) -> Event:
    """The flow event a webhook reports: the Gather's keys, its time-out, or a finished recording."""
    if kind == "digits" and params.get("Digits"):
        return Digits(params["Digits"])
    if kind == "recorded":
        return RecordingDone(float(params.get("RecordingDuration") or 0))
    return TimedOut()


def facts_after(turn: Turn, facts: Mapping[str, str]) -> dict[str, str]:
    """The facts the next turn speaks: this turn may have set the emergency type."""
    current = dict(facts)
    for command in turn.commands:
        if isinstance(command, SetIncidentField):
            current = apply_field(current, command.name, command.value)
    return current


@dataclass(frozen=True, slots=True)
class TwimlRenderer:
    prompt_base_url: str = ""  # recorded prompts at <base>/<prompt id>.wav are played instead of spoken

    def render(self, turn: Turn, next_url: NextUrl) -> str:
        response = VoiceResponse()
        speech: list[Say] = []
        for command in turn.commands:
            if isinstance(command, Say):
                speech.append(command)
            elif isinstance(command, CollectDigits):
                response.append(self._gather(command, speech, next_url(turn.state, "digits")))
                response.redirect(next_url(turn.state, "timeout"), method="POST")
                speech = []
            elif isinstance(command, StartRecording):
                self._speak(response, speech)
                speech = []
                response.record(max_length=math.ceil(command.max_seconds), finish_on_key=command.stop_digits,
                                action=next_url(turn.state, "recorded"), method="POST", play_beep=False)
            elif isinstance(command, EndCall):
                self._speak(response, speech)
                speech = []
                response.hangup()
        self._speak(response, speech)
        return str(response)

    def _gather(self, command: CollectDigits, speech: list[Say], action: str) -> Gather:
        gather = Gather(num_digits=command.count, timeout=math.ceil(command.timeout), action=action, method="POST",
                        action_on_empty_result=False)
        self._speak(gather, speech)
        return gather

    def _speak(self, target: VoiceResponse | Gather, speech: list[Say]) -> None:
        for say in speech:
            if say.prompt is not None and self.prompt_base_url:
                target.play(f"{self.prompt_base_url.rstrip('/')}/{say.prompt}.wav")
            else:
                target.say(say.text, language=LANGUAGE)

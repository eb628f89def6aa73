"""What the IVR needs from the rest of the service: incident commands, speech, prompt audio.

Real adapters: ``callcenter.ivr.engine_actions`` (incident engine), ``callcenter.ivr.speech``
(espeak-ng + sox), ``callcenter.ivr.prompts`` (cache and recorded prompts). Fakes: ``callcenter.ivr.fakes``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from callcenter.domain.types import EmergencyType
from callcenter.ivr.engine import Say

__all__ = ["CallerIncident", "IncidentActions", "IncidentLookup", "PromptAudio", "SpeechError", "SpeechSynthesizer"]


class IncidentActions(Protocol):
    """Commands an inbound call's flow gives the incident it belongs to."""

    def set_type(self, incident_id: str, emergency_type: EmergencyType) -> None: ...

    def cancel(self, incident_id: str) -> None: ...

    def attach_voice_message(self, incident_id: str, audio: bytes, seconds: float) -> None:
        """Keep what the caller said (8 kHz unsigned 8-bit mono PCM) for the operators."""
        ...

    def note_silent_call(self, incident_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class CallerIncident:
    """The open incident an inbound call belongs to, with the facts its prompts may speak."""

    incident_id: str
    facts: dict[str, str] = field(default_factory=dict)


# Finds the incident the channel opened for this caller's number (None: no open incident).
IncidentLookup = Callable[[str], CallerIncident | None]


class SpeechSynthesizer(Protocol):
    """Text to speech as call audio: 8 kHz mono unsigned 8-bit PCM."""

    @property
    def voice(self) -> str: ...

    def synthesize(self, text: str) -> bytes:
        """Raises SpeechError when the text cannot be spoken."""
        ...


class PromptAudio(Protocol):
    """The audio of what a flow says: a fixed prompt (maybe a recording) or a dynamic text."""

    def audio(self, say: Say) -> bytes: ...


class SpeechError(Exception):
    """Speech could not be produced (synthesizer missing or failed, unreadable recording)."""

"""``IncidentActions`` on the incident engine: what an inbound flow does becomes timeline events.

Voice messages are written as 8 kHz unsigned 8-bit mono WAV files under the recordings directory
(atomically: a half-written file never carries the final name), then attached to the incident.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from callcenter.domain.types import Actor, EmergencyType
from callcenter.ivr.audio import write_wav_atomically

__all__ = ["HOUSEHOLD", "IVR", "SILENT_CALL_NOTE", "EngineIncidentActions"]

HOUSEHOLD = Actor("household", "ivr")
IVR = Actor("system", "ivr")
SILENT_CALL_NOTE = "无声来电：来电者未按任何键（类型未知，通知照常进行），已尝试录下现场声音"


class IncidentCommands(Protocol):
    """The part of ``callcenter.service.engine.IncidentEngine`` the IVR uses."""

    def set_type(self, incident_id: str, emergency_type: EmergencyType, actor: Actor) -> Any: ...

    def cancel(self, incident_id: str, actor: Actor) -> Any: ...

    def add_note(self, incident_id: str, text: str, actor: Actor) -> Any: ...

    def attach_voice_message(self, incident_id: str, path: str, seconds: float, actor: Actor) -> Any: ...


class EngineIncidentActions:
    def __init__(self, engine: IncidentCommands, recordings_dir: Path,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        # Absolute, so the path on the timeline still finds the file from another working directory.
        self.engine, self.recordings_dir, self.now = engine, recordings_dir.absolute(), now

    def set_type(self, incident_id: str, emergency_type: EmergencyType) -> None:
        self.engine.set_type(incident_id, emergency_type, HOUSEHOLD)

    def cancel(self, incident_id: str) -> None:
        self.engine.cancel(incident_id, HOUSEHOLD)

    def note_silent_call(self, incident_id: str) -> None:
        self.engine.add_note(incident_id, SILENT_CALL_NOTE, IVR)

    def attach_voice_message(self, incident_id: str, audio: bytes, seconds: float) -> None:
        path = self.save_recording(incident_id, audio)
        self.engine.attach_voice_message(incident_id, str(path), seconds, HOUSEHOLD)

    def save_recording(self, incident_id: str, audio: bytes) -> Path:
        safe_id = "".join(c if c.isalnum() or c in "-_" else "_" for c in incident_id)
        stamp = self.now().strftime("%Y%m%dT%H%M%S%fZ")
        target = self.recordings_dir / safe_id / f"{stamp}.wav"
        write_wav_atomically(target, audio)
        return target


"""The incident-engine adapter: flow effects become engine commands, voice messages become WAV files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callcenter.domain.types import Actor, EmergencyType
from callcenter.ivr.audio import read_call_wav
from callcenter.ivr.engine_actions import HOUSEHOLD, IVR, EngineIncidentActions


class RecordingEngine:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def set_type(self, incident_id: str, emergency_type: EmergencyType, actor: Actor) -> None:
        self.calls.append(("set_type", incident_id, emergency_type, actor))

    def cancel(self, incident_id: str, actor: Actor) -> None:
        self.calls.append(("cancel", incident_id, actor))

    def add_note(self, incident_id: str, text: str, actor: Actor) -> None:
        self.calls.append(("add_note", incident_id, text, actor))

    def attach_voice_message(self, incident_id: str, path: str, seconds: float, actor: Actor) -> None:
        self.calls.append(("attach_voice_message", incident_id, path, seconds, actor))


def actions(tmp_path: Path) -> tuple[EngineIncidentActions, RecordingEngine]:
    engine = RecordingEngine()
    at = datetime(2026, 3, 14, 1, 30, 5, tzinfo=UTC)
    return EngineIncidentActions(engine, tmp_path / "recordings", now=lambda: at), engine


def test_type_cancel_and_silent_call_reach_the_engine(tmp_path: Path) -> None:
    adapter, engine = actions(tmp_path)
    adapter.set_type("I1", EmergencyType.FIRE)
    adapter.cancel("I1")
    adapter.note_silent_call("I1")
    assert engine.calls[0] == ("set_type", "I1", EmergencyType.FIRE, HOUSEHOLD)
    assert engine.calls[1] == ("cancel", "I1", HOUSEHOLD)
    assert engine.calls[2][0] == "add_note" and "无声来电" in engine.calls[2][2] and engine.calls[2][3] == IVR


def test_a_voice_message_is_kept_as_a_wav_file_and_attached(tmp_path: Path) -> None:
    adapter, engine = actions(tmp_path)
    adapter.attach_voice_message("20260314-0930/0001", b"\x90" * 16000, 2.0)
    (_, incident_id, path, seconds, actor), = engine.calls
    assert (incident_id, seconds, actor) == ("20260314-0930/0001", 2.0, HOUSEHOLD)
    file = Path(path)
    assert file.parent == tmp_path / "recordings" / "20260314-0930_0001"  # never a path outside the directory
    assert file.name == "20260314T013005000000Z.wav"
    assert read_call_wav(file) == b"\x90" * 16000

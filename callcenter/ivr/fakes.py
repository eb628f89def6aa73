"""Fakes for unit tests: a scripted call on a virtual clock, a tone synthesizer, recorded incident actions.

``FakeCallMedia`` is also the reference behaviour of ``CallMedia``: a contract test can run the same
script against it and against a real channel. Time is virtual: it moves only when the code under test
waits (``next_digit``, ``record``), so a script of "press 3 at 7.5 s" is exact and tests take no time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from callcenter.domain.types import EmergencyType
from callcenter.ivr.audio import SAMPLE_RATE, tone
from callcenter.ivr.engine import Say
from callcenter.ivr.media import CallEnded
from callcenter.ivr.ports import SpeechError

__all__ = ["FakeCallMedia", "FakeIncidentActions", "FakePromptAudio", "FakeSynthesizer"]


@dataclass
class FakeCallMedia:
    """A call whose far end presses ``digits`` (seconds after answer, key) and may hang up at ``hang_up_at``."""

    number: str = "13800000001"
    digits: list[tuple[float, str]] = field(default_factory=list)
    hang_up_at: float | None = None
    voice_level: int = 0x90  # the sample the far end's microphone "hears" while recording
    now: float = 0.0
    played: list[bytes] = field(default_factory=list)
    log: list[tuple[float, str]] = field(default_factory=list)
    hung_up_by_us: bool = False
    _playing_until: float = 0.0

    def __post_init__(self) -> None:
        self.digits = sorted(self.digits)

    @property
    def remote_number(self) -> str:
        return self.number

    def is_live(self) -> bool:
        return not self.hung_up_by_us and not self._far_end_gone(self.now)

    def play(self, audio: bytes) -> None:
        self._check_live()
        self.played.append(audio)
        self._playing_until = max(self.now, self._playing_until) + len(audio) / SAMPLE_RATE
        self.log.append((self.now, f"play {len(audio)}"))

    def is_playing(self) -> bool:
        return self.is_live() and self.now < self._playing_until

    def stop_playback(self) -> None:
        self._playing_until = self.now
        self.log.append((self.now, "stop"))

    def next_digit(self, timeout: float) -> str | None:
        self._check_live()
        deadline = self.now + timeout
        pending = self.digits[0] if self.digits else None
        if pending is not None and pending[0] <= deadline and not self._far_end_gone(pending[0]):
            self.digits.pop(0)
            self.now = max(self.now, pending[0])
            self.log.append((self.now, f"digit {pending[1]}"))
            return pending[1]
        self._advance(deadline)
        return None

    def record(self, max_seconds: float, stop_digits: str = "#") -> bytes:
        start, end = self.now, self.now + max_seconds
        if self.hang_up_at is not None:
            end = min(end, max(start, self.hang_up_at))
        for index, (at, key) in enumerate(self.digits):
            if key in stop_digits and start <= at < end:
                end = at
                del self.digits[index]
                break
        self.now = end
        self.log.append((self.now, f"recorded {end - start:.1f}s"))
        return bytes([self.voice_level]) * round((end - start) * SAMPLE_RATE)

    def hang_up(self) -> None:
        if not self.hung_up_by_us:
            self.log.append((self.now, "hang up"))
        self.hung_up_by_us = True

    def played_seconds(self) -> float:
        return sum(len(a) for a in self.played) / SAMPLE_RATE

    def _far_end_gone(self, at: float) -> bool:
        return self.hang_up_at is not None and at >= self.hang_up_at

    def _advance(self, to: float) -> None:
        if self._far_end_gone(to):
            self.now = max(self.now, self.hang_up_at or 0.0)
            raise CallEnded("far end hung up")
        self.now = to

    def _check_live(self) -> None:
        if not self.is_live():
            raise CallEnded("call already ended")


@dataclass
class FakeSynthesizer:
    voice: str = "fake"
    spoken: list[str] = field(default_factory=list)
    fail_on: str | None = None  # a text containing this fails, as a broken synthesizer would

    def synthesize(self, text: str) -> bytes:
        if self.fail_on is not None and self.fail_on in text:
            raise SpeechError(f"cannot speak {text!r}")
        self.spoken.append(text)
        return tone(text)


@dataclass
class FakeIncidentActions:
    calls: list[tuple[str, ...]] = field(default_factory=list)
    voice_messages: list[tuple[str, bytes, float]] = field(default_factory=list)
    fail: bool = False  # every command raises, as with the database down

    def set_type(self, incident_id: str, emergency_type: EmergencyType) -> None:
        self._record("set_type", incident_id, emergency_type.value)

    def cancel(self, incident_id: str) -> None:
        self._record("cancel", incident_id)

    def attach_voice_message(self, incident_id: str, audio: bytes, seconds: float) -> None:
        self._record("attach_voice_message", incident_id, f"{seconds:.1f}")
        self.voice_messages.append((incident_id, audio, seconds))

    def note_silent_call(self, incident_id: str) -> None:
        self._record("note_silent_call", incident_id)

    def _record(self, *call: str) -> None:
        if self.fail:
            raise RuntimeError("incident store unavailable")
        self.calls.append(call)


@dataclass
class FakePromptAudio:
    """Prompt audio without a cache: a tone per text, and the list of what was said."""

    said: list[str] = field(default_factory=list)
    seconds_per_char: float = 0.25  # Mandarin speech runs at about four characters a second

    def audio(self, say: Say) -> bytes:
        self.said.append(say.prompt or say.text)
        return tone(say.text, self.seconds_per_char)

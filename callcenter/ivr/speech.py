"""Speech synthesis with espeak-ng and audio conversion with sox (Debian packages ``espeak-ng``, ``sox``).

Both run as child processes with a time limit; any failure becomes ``SpeechError`` so a call can fall
back to a tone instead of going silent.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from callcenter.ivr.ports import SpeechError

__all__ = ["EspeakSynthesizer", "convert_to_call_audio"]

TIMEOUT_SECONDS = 30.0
# sox arguments for call audio: 8 kHz, mono, unsigned 8-bit, raw PCM (what pyVoIP plays).
CALL_AUDIO = ["-r", "8000", "-c", "1", "-b", "8", "-e", "unsigned-integer", "-t", "raw"]


def _run(command: list[str], what: str) -> bytes:
    try:
        done = subprocess.run(command, capture_output=True, timeout=TIMEOUT_SECONDS, check=False)
    except FileNotFoundError:
        raise SpeechError(f"{what}: {command[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise SpeechError(f"{what}: {command[0]} took more than {TIMEOUT_SECONDS:g} s") from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SpeechError(f"{what}: {command[0]} failed ({reason[-1] if reason else done.returncode})")
    return done.stdout


def convert_to_call_audio(source: Path, sox: str = "sox") -> bytes:
    """Any audio file sox reads (WAV of any rate, width or channels) as 8 kHz unsigned 8-bit mono PCM."""
    if not source.is_file():
        raise SpeechError(f"{source}: no such audio file")
    audio = _run([sox, str(source), *CALL_AUDIO, "-"], f"converting {source}")
    if not audio:
        raise SpeechError(f"{source}: holds no audio")
    return audio


class EspeakSynthesizer:
    """``espeak-ng -v VOICE -w out.wav TEXT`` then sox to call audio."""

    def __init__(self, voice: str = "cmn-latn-pinyin", espeak: str = "espeak-ng", sox: str = "sox",
                 speed: int = 150) -> None:
        self._voice, self.espeak, self.sox, self.speed = voice, espeak, sox, speed

    @property
    def voice(self) -> str:
        return f"espeak-ng:{self._voice}:{self.speed}"

    def phonemes(self, text: str) -> str:
        """espeak-ng's phoneme transcription; "(en)" in it marks text spoken with English rules."""
        return _run([self.espeak, "-v", self._voice, "-q", "-x", "--", text], "transcribing speech").decode()

    def synthesize(self, text: str) -> bytes:
        if not text.strip():
            raise SpeechError("nothing to say")
        with tempfile.TemporaryDirectory(prefix="speech-") as tmp:
            wav = Path(tmp) / "speech.wav"
            _run([self.espeak, "-v", self._voice, "-s", str(self.speed), "-w", str(wav), "--", text],
                 "synthesising speech")
            return convert_to_call_audio(wav, self.sox)

"""Call audio files: 8 kHz unsigned 8-bit mono WAV, written atomically, read back as raw PCM."""

from __future__ import annotations

import functools
import math
import os
import tempfile
import wave
from pathlib import Path

__all__ = ["SAMPLE_RATE", "AudioFileError", "read_call_wav", "seconds", "tone", "write_wav_atomically"]

SAMPLE_RATE = 8000
SILENCE = 0x80  # unsigned 8-bit PCM


class AudioFileError(ValueError):
    """A file that is not call audio (8 kHz, 8-bit, mono WAV)."""


def write_wav_atomically(target: Path, audio: bytes) -> None:
    """Write ``audio`` (8 kHz unsigned 8-bit mono PCM) at ``target``; a half-written file never has its name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as raw, wave.open(raw, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(1)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(audio)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_call_wav(path: Path) -> bytes:
    """The PCM of a WAV written by ``write_wav_atomically``."""
    try:
        with wave.open(str(path), "rb") as source:
            shape = (source.getnchannels(), source.getsampwidth(), source.getframerate())
            if shape != (1, 1, SAMPLE_RATE):
                raise AudioFileError(f"{path}: not 8 kHz 8-bit mono (channels, width, rate = {shape})")
            return source.readframes(source.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioFileError(f"{path}: not a readable WAV file ({exc})") from None


def seconds(audio: bytes) -> float:
    return len(audio) / SAMPLE_RATE


@functools.lru_cache(maxsize=512)
def tone(text: str, seconds_per_char: float = 0.05) -> bytes:
    """Deterministic audio for a text: a tone whose pitch and length depend on the text."""
    pitch = 300 + sum(map(ord, text)) % 500
    samples = max(1, round(len(text) * seconds_per_char * SAMPLE_RATE))
    return bytes(SILENCE + round(60 * math.sin(2 * math.pi * pitch * i / SAMPLE_RATE)) for i in range(samples))

"""Prompt audio: fixed prompts rendered once, operator recordings preferred, dynamic text cached.

Lookup for a fixed prompt ``id``: a recording ``<prompts_dir>/<id>.wav`` (any rate, width or channels;
converted once, keyed by the file's content so a replaced file is converted again), else speech
synthesised from the flow's text. Synthesised audio is cached on disk under ``cache_dir`` keyed by a
hash of voice and text, written atomically, so a restart or another process reuses it; recent audio
is also kept in memory for the calls in progress.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from callcenter.ivr.audio import AudioFileError, read_call_wav, seconds, write_wav_atomically
from callcenter.ivr.engine import Say
from callcenter.ivr.ports import SpeechError, SpeechSynthesizer
from callcenter.ivr.speech import convert_to_call_audio

__all__ = ["PromptLibrary", "PromptSource"]

log = logging.getLogger(__name__)

MEMORY_ENTRIES = 256  # a few dozen fixed prompts plus the announcements of the incidents in progress
RENDER_STRIPES = 64


class PromptSource(StrEnum):
    RECORDED = "recorded"  # an operator's WAV from the prompts folder
    SYNTHESIZED = "synthesized"  # spoken by the synthesizer now
    CACHED = "cached"  # synthesised earlier, read from the cache


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    prompt: str
    text: str
    source: PromptSource
    seconds: float
    file: Path


class PromptLibrary:
    def __init__(self, synthesizer: SpeechSynthesizer, cache_dir: Path, prompts_dir: Path,
                 fixed: Mapping[str, str], convert: Callable[[Path], bytes] = convert_to_call_audio) -> None:
        self.synthesizer, self.cache_dir, self.prompts_dir = synthesizer, cache_dir, prompts_dir
        self.fixed, self.convert = dict(fixed), convert
        self._memory: OrderedDict[Path, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._recorded: dict[tuple[Path, int, int], Path] = {}  # recording (path, mtime, size) → converted file
        self._rendering = [threading.Lock() for _ in range(RENDER_STRIPES)]  # by text: one synthesis at a time

    def audio(self, say: Say) -> bytes:
        """The audio for a flow's Say command. Raises SpeechError when nothing can be produced."""
        def locate() -> Path:
            if say.prompt is not None:
                return self._prompt_file(say.prompt, say.text)[0]
            return self._speech_file(say.text)[0]

        file = locate()
        try:
            return self._load(file)
        except SpeechError:  # a damaged cache file: drop it and make it again once
            log.warning("prompt cache file %s is damaged; rendering it again", file)
            file.unlink(missing_ok=True)
            return self._load(locate())

    def render_prompt(self, prompt: str, text: str | None = None) -> RenderedPrompt:
        """Make sure the prompt's audio is on disk; says where it came from."""
        wording = text if text is not None else self.fixed[prompt]
        file, source = self._prompt_file(prompt, wording)
        return RenderedPrompt(prompt, wording, source, seconds(self._load(file)), file)

    def render_all(self) -> list[RenderedPrompt]:
        return [self.render_prompt(prompt, text) for prompt, text in self.fixed.items()]

    def recording_for(self, prompt: str) -> Path | None:
        file = self.prompts_dir / f"{prompt}.wav"
        return file if file.is_file() else None

    # -- files -----------------------------------------------------------------------------------

    def _prompt_file(self, prompt: str, text: str) -> tuple[Path, PromptSource]:
        recording = self.recording_for(prompt)
        if recording is None:
            return self._speech_file(text)
        try:
            return self._recording_file(recording), PromptSource.RECORDED
        except (OSError, SpeechError):
            log.exception("prompt %s: the recording %s is unusable; speaking the text instead", prompt, recording)
            return self._speech_file(text)

    def _recording_file(self, recording: Path) -> Path:
        stat = recording.stat()
        key = (recording, stat.st_mtime_ns, stat.st_size)
        known = self._recorded.get(key)
        if known is not None and known.is_file():
            return known
        digest = hashlib.sha256(recording.read_bytes()).hexdigest()[:32]
        target = self.cache_dir / f"recorded-{digest}.wav"
        if not target.is_file():
            write_wav_atomically(target, self.convert(recording))
        self._recorded[key] = target
        return target

    def _speech_file(self, text: str) -> tuple[Path, PromptSource]:
        digest = hashlib.sha256(f"{self.synthesizer.voice}\0{text}".encode()).hexdigest()[:32]
        target = self.cache_dir / f"speech-{digest}.wav"
        if target.is_file():
            return target, PromptSource.CACHED
        # One synthesis per text at a time: an incident's neighbours answer together, and each used to
        # run the synthesizer for the same announcement (49 runs for 11 texts in a flood's first 5 s).
        with self._rendering[int(digest[:8], 16) % len(self._rendering)]:
            if target.is_file():
                return target, PromptSource.CACHED
            write_wav_atomically(target, self.synthesizer.synthesize(text))
        return target, PromptSource.SYNTHESIZED

    def _load(self, file: Path) -> bytes:
        with self._lock:
            if file in self._memory:
                self._memory.move_to_end(file)
                return self._memory[file]
        try:
            audio = read_call_wav(file)
        except (OSError, AudioFileError) as exc:
            raise SpeechError(str(exc)) from None
        with self._lock:
            self._memory[file] = audio
            while len(self._memory) > MEMORY_ENTRIES:
                self._memory.popitem(last=False)
        return audio

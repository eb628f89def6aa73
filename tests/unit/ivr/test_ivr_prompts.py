"""The prompt library with a fake synthesizer: render once, cache on disk, prefer an operator's recording."""

from __future__ import annotations

import threading
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from callcenter.ivr.audio import read_call_wav, tone, write_wav_atomically
from callcenter.ivr.engine import Say
from callcenter.ivr.fakes import FakeSynthesizer
from callcenter.ivr.ports import SpeechError
from callcenter.ivr.prompts import PromptLibrary, PromptSource

FIXED = {"received": "已收到您的紧急求助", "reassure": "邻居正在赶来"}


def library(tmp_path: Path, synthesizer: FakeSynthesizer | None = None,
            converted: list[Path] | None = None) -> PromptLibrary:
    def convert(file: Path) -> bytes:
        (converted if converted is not None else []).append(file)
        return b"\x81" * 800

    return PromptLibrary(synthesizer or FakeSynthesizer(), tmp_path / "cache", tmp_path / "prompts", FIXED, convert)


def test_a_fixed_prompt_is_synthesised_once_then_read_from_the_cache(tmp_path: Path) -> None:
    synthesizer = FakeSynthesizer()
    first = library(tmp_path, synthesizer)
    assert first.render_prompt("received").source is PromptSource.SYNTHESIZED
    again = library(tmp_path, synthesizer)  # a restart: a new library over the same cache
    rendered = again.render_prompt("received")
    assert rendered.source is PromptSource.CACHED
    assert again.audio(Say(FIXED["received"], "received")) == tone(FIXED["received"])
    assert synthesizer.spoken == [FIXED["received"]]
    assert rendered.seconds == pytest.approx(len(tone(FIXED["received"])) / 8000)


def test_dynamic_text_is_synthesised_at_call_time_and_cached(tmp_path: Path) -> None:
    synthesizer = FakeSynthesizer()
    prompts = library(tmp_path, synthesizer)
    text = "这里是995紧急求助。张建国家，地址：张家口村3组12号"
    assert prompts.audio(Say(text)) == prompts.audio(Say(text)) == tone(text)
    assert synthesizer.spoken == [text]


def test_the_cache_key_includes_the_voice(tmp_path: Path) -> None:
    one, other = FakeSynthesizer(voice="a"), FakeSynthesizer(voice="b")
    library(tmp_path, one).audio(Say("你好"))
    library(tmp_path, other).audio(Say("你好"))
    assert one.spoken == other.spoken == ["你好"]


def test_an_operators_recording_replaces_the_synthesised_prompt(tmp_path: Path) -> None:
    converted: list[Path] = []
    synthesizer = FakeSynthesizer()
    prompts = library(tmp_path, synthesizer, converted)
    recording = tmp_path / "prompts" / "received.wav"
    recording.parent.mkdir()
    recording.write_bytes(b"RIFF any format sox reads")
    rendered = prompts.render_prompt("received")
    assert rendered.source is PromptSource.RECORDED and rendered.seconds == 0.1
    assert prompts.audio(Say(FIXED["received"], "received")) == b"\x81" * 800
    assert converted == [recording]  # converted once, not per call
    assert synthesizer.spoken == []
    assert prompts.render_prompt("reassure").source is PromptSource.SYNTHESIZED


def test_an_unusable_recording_falls_back_to_speech(tmp_path: Path) -> None:
    def broken(file: Path) -> bytes:
        raise SpeechError(f"{file}: not audio")

    prompts = PromptLibrary(FakeSynthesizer(), tmp_path / "cache", tmp_path / "prompts", FIXED, broken)
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "reassure.wav").write_text("not audio")
    assert prompts.render_prompt("reassure").source is PromptSource.SYNTHESIZED


def test_a_damaged_cache_file_is_rendered_again(tmp_path: Path) -> None:
    synthesizer = FakeSynthesizer()
    library(tmp_path, synthesizer).render_prompt("reassure")
    for file in (tmp_path / "cache").glob("speech-*.wav"):
        file.write_bytes(b"RIFF\x00")
    assert library(tmp_path, synthesizer).audio(Say(FIXED["reassure"], "reassure")) == tone(FIXED["reassure"])
    assert synthesizer.spoken == [FIXED["reassure"]] * 2


def test_a_failing_synthesizer_raises_speech_error_and_leaves_no_file(tmp_path: Path) -> None:
    prompts = library(tmp_path, FakeSynthesizer(fail_on="邻居"))
    with pytest.raises(SpeechError):
        prompts.audio(Say(FIXED["reassure"], "reassure"))
    assert list((tmp_path / "cache").glob("*")) == []


def test_render_all_reports_every_fixed_prompt(tmp_path: Path) -> None:
    report = library(tmp_path).render_all()
    assert [r.prompt for r in report] == ["received", "reassure"]
    assert all(r.file.is_file() for r in report)


def test_call_audio_files_round_trip_and_leave_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.wav"
    write_wav_atomically(target, b"\x80\x90" * 400)
    assert read_call_wav(target) == b"\x80\x90" * 400
    with wave.open(str(target)) as written:
        assert (written.getframerate(), written.getsampwidth(), written.getnchannels()) == (8000, 1, 1)
    assert [p.name for p in target.parent.iterdir()] == ["b.wav"]


def test_calls_in_parallel_share_one_rendering(tmp_path: Path) -> None:
    prompts = library(tmp_path)
    text = "这里是995紧急求助。张建国家，地址：张家口村3组12号"
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: prompts.audio(Say(text)), range(32)))
    assert set(results) == {tone(text)}
    assert len(list((tmp_path / "cache").glob("speech-*.wav"))) == 1
    assert not list((tmp_path / "cache").glob(".*.part"))


class SlowSynthesizer(FakeSynthesizer):
    """Takes long enough that calls answered together all ask while it speaks."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()

    def synthesize(self, text: str) -> bytes:
        self.started.set()
        time.sleep(0.2)
        return super().synthesize(text)


def test_neighbours_answering_together_wait_for_one_synthesis_of_the_announcement(tmp_path: Path) -> None:
    synthesizer = SlowSynthesizer()
    prompts = library(tmp_path, synthesizer)
    text = "这里是995紧急求助。张建国家，地址：张家口村3组12号"
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(prompts.audio, Say(text))
        assert synthesizer.started.wait(5)
        others = [pool.submit(prompts.audio, Say(text)) for _ in range(7)]
        results = {first.result(), *(future.result() for future in others)}
    assert results == {tone(text)}
    assert synthesizer.spoken == [text]  # once, for all eight calls

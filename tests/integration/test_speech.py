"""Speech and prompts with the real espeak-ng and sox: Mandarin prompts as 8 kHz call audio, recordings, CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import wave
from pathlib import Path

import pytest
from typer.testing import CliRunner

from callcenter.cli import app
from callcenter.domain.types import EmergencyType
from callcenter.ivr.audio import read_call_wav
from callcenter.ivr.engine import SPOKEN_TYPES, Say, render_text
from callcenter.ivr.fakes import FakeCallMedia, FakeIncidentActions
from callcenter.ivr.flow import Play
from callcenter.ivr.flowfile import load_flows
from callcenter.ivr.handlers import inbound_handler
from callcenter.ivr.ports import CallerIncident, SpeechError
from callcenter.ivr.prompts import PromptLibrary, PromptSource
from callcenter.ivr.speech import EspeakSynthesizer, convert_to_call_audio

ROOT = Path(__file__).resolve().parents[2]
FLOWS = load_flows(ROOT / "ivr_flows")
pytestmark = pytest.mark.timeout(120)


def sox_file(target: Path, *args: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["sox", "-n", *args, str(target), "synth", "1.5", "sine", "440"], check=True, timeout=30)
    return target


def test_espeak_speaks_mandarin_as_8khz_unsigned_8bit_audio() -> None:
    audio = EspeakSynthesizer().synthesize("已收到您的紧急求助，正在通知您的联防户和网格员。")
    seconds = len(audio) / 8000
    assert 2.0 < seconds < 20.0
    assert max(audio) - min(audio) > 64  # speech, not silence
    assert abs(sum(audio) / len(audio) - 128) < 8  # unsigned samples centred on 0x80


def test_every_prompt_is_spoken_as_mandarin_not_spelt_in_english() -> None:
    """espeak-ng 1.51's plain "cmn" voice fails this (e.g. 您 is read as English "nin two")."""
    synthesizer = EspeakSynthesizer()
    announcement = render_text(
        next(s.verb.speech.text for s in FLOWS["alert_outbound"].steps.values()
             if isinstance(s.verb, Play) and s.verb.speech.text and "{type}" in s.verb.speech.text),
        {"label": "张家口村三组 张建国家", "address": "张家口村3组12号", "type": SPOKEN_TYPES[EmergencyType.THEFT]})
    for text in [*FLOWS.prompts().values(), announcement, *SPOKEN_TYPES.values()]:
        assert "(en)" not in synthesizer.phonemes(text), text


def test_a_missing_synthesizer_is_a_speech_error() -> None:
    with pytest.raises(SpeechError, match="is not installed"):
        EspeakSynthesizer(espeak="espeak-ng-not-here").synthesize("你好")


@pytest.mark.parametrize("shape", [("-r", "44100", "-c", "2", "-b", "16"), ("-r", "16000", "-c", "1", "-b", "24"),
                                   ("-r", "8000", "-c", "1", "-b", "8", "-e", "unsigned-integer")])
def test_a_recording_of_any_wav_shape_becomes_call_audio(tmp_path: Path, shape: tuple[str, ...]) -> None:
    audio = convert_to_call_audio(sox_file(tmp_path / "in.wav", *shape))
    assert len(audio) == 12000  # 1.5 s at 8 kHz, one byte a sample


def test_a_file_that_is_not_audio_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "received.wav"
    junk.write_text("这不是录音")
    with pytest.raises(SpeechError, match=r"converting .*received\.wav"):
        convert_to_call_audio(junk)


def test_the_shipped_prompts_render_once_and_prefer_a_recording(tmp_path: Path) -> None:
    def library() -> PromptLibrary:
        return PromptLibrary(EspeakSynthesizer(), tmp_path / "cache", tmp_path / "prompts", FLOWS.prompts())

    first = library().render_all()
    assert {r.source for r in first} == {PromptSource.SYNTHESIZED}
    assert all(1.0 < r.seconds < 30.0 for r in first)
    sox_file(tmp_path / "prompts" / "reassure.wav", "-r", "22050", "-c", "1", "-b", "16")
    again = {r.prompt: r for r in library().render_all()}
    assert again["reassure"].source is PromptSource.RECORDED and again["reassure"].seconds == 1.5
    assert {r.source for p, r in again.items() if p != "reassure"} == {PromptSource.CACHED}
    with wave.open(str(again["menu"].file)) as cached:
        assert (cached.getframerate(), cached.getsampwidth(), cached.getnchannels()) == (8000, 1, 1)


def test_an_inbound_call_hears_the_real_prompts(tmp_path: Path) -> None:
    prompts = PromptLibrary(EspeakSynthesizer(), tmp_path / "cache", tmp_path / "prompts", FLOWS.prompts())
    actions = FakeIncidentActions()
    media = FakeCallMedia("+8613907170001", digits=[(12.0, "1")], hang_up_at=40.0)
    inbound_handler(actions, lambda _n: CallerIncident("I1", {"label": "张建国家"}), prompts, FLOWS)(media)
    assert actions.calls == [("set_type", "I1", EmergencyType.FIRE.value)]
    received = read_call_wav(prompts.render_prompt("received").file)
    assert media.played[0] == received
    assert media.played[2] == prompts.audio(Say(FLOWS.prompts()["typed"], "typed"))


def test_cli_prompts_render_reports_recordings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CALLCENTER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CALLCENTER_DATA_DIR", str(tmp_path))
    sox_file(tmp_path / "prompts" / "goodbye.wav", "-r", "48000", "-c", "2", "-b", "16")
    result = CliRunner().invoke(app, ["prompts", "render"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "13 prompts ready" in result.output and "1 from recordings" in result.output
    assert "recorded" in next(line for line in result.output.splitlines() if "goodbye" in line)
    assert len(list((tmp_path / "prompt-cache").glob("*.wav"))) == 13


def test_cli_prompts_render_names_a_bad_flow_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(ROOT / "ivr_flows", flows, ignore=shutil.ignore_patterns("*.py"))
    broken = flows / "alert_outbound.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("play: no_key", "play: no_keys"), encoding="utf-8")
    monkeypatch.setenv("CALLCENTER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CALLCENTER_IVR__FLOWS_DIR", str(flows))
    result = CliRunner().invoke(app, ["prompts", "render"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert f"{broken}:" in result.output and "unknown prompt 'no_keys'" in result.output


def test_cli_prompts_say_writes_call_audio_and_warns_of_english(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_DATA_DIR", str(tmp_path))
    out = tmp_path / "label.wav"
    result = CliRunner().invoke(app, ["prompts", "say", "张家口村三组 张建国家", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output and len(read_call_wav(out)) > 8000
    latin = CliRunner().invoke(app, ["prompts", "say", "Building B", "--out", str(tmp_path / "b.wav")])
    assert latin.exit_code == 0 and "English rules" in latin.output

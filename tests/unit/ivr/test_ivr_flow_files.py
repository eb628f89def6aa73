"""Flow files: the shipped ones load; every bad file in the corpus fails naming its file and line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from callcenter.ivr.flow import FlowKind, Gather
from callcenter.ivr.flowfile import load_flow, load_flows
from callcenter.yamlfile import ConfigFileError

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "ivr_flows"
BAD = ROOT / "tests" / "data" / "flows" / "bad"
EXPECT = re.compile(r"# expect: (\d+): (.+)")


def expectation(file: Path) -> tuple[int, str]:
    match = EXPECT.match(file.read_text(encoding="utf-8").splitlines()[0])
    assert match, f"{file.name} must start with '# expect: LINE: REASON'"
    return int(match.group(1)), match.group(2)


@pytest.mark.parametrize("file", sorted(BAD.glob("*.yaml")), ids=lambda f: f.stem)
def test_a_bad_flow_file_names_file_and_line(file: Path) -> None:
    line, reason = expectation(file)
    with pytest.raises(ConfigFileError) as caught:
        load_flow(file)
    assert (caught.value.file, caught.value.line) == (file, line), str(caught.value)
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{file}:{line}: ")


def test_the_corpus_covers_many_mistakes() -> None:
    assert len(list(BAD.glob("*.yaml"))) >= 25


def test_the_shipped_flows_load() -> None:
    flows = load_flows(SHIPPED)
    assert flows["emergency_inbound"].kind is FlowKind.INBOUND
    assert flows["alert_outbound"].kind is FlowKind.ALERT
    menu = flows["emergency_inbound"].step("menu").verb
    assert isinstance(menu, Gather) and set(menu.branches) == {"1", "2", "3", "4", "9"}
    assert flows.prompts()["received"] == "已收到您的紧急求助，正在通知您的联防户和网格员。"


def test_a_missing_required_flow_is_named(tmp_path: Path) -> None:
    shutil.copy(SHIPPED / "alert_outbound.yaml", tmp_path)
    with pytest.raises(ConfigFileError, match="the emergency_inbound flow is missing"):
        load_flows(tmp_path)


def test_a_missing_flows_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="flows directory not found"):
        load_flows(tmp_path / "nowhere")


def test_one_prompt_id_cannot_have_two_texts(tmp_path: Path) -> None:
    for name in ("emergency_inbound", "alert_outbound"):
        shutil.copy(SHIPPED / f"{name}.yaml", tmp_path)
    extra = tmp_path / "zz_extra.yaml"
    extra.write_text("flow: zz_extra\nkind: alert\nprompts:\n  received: 另一段话\nsteps:\n  - play: received\n",
                     encoding="utf-8")
    with pytest.raises(ConfigFileError) as caught:
        load_flows(tmp_path)
    assert (caught.value.file, caught.value.line) == (extra, 4)
    assert "has another text in emergency_inbound.yaml" in caught.value.reason


def test_integer_branch_keys_are_read_as_keys(tmp_path: Path) -> None:
    file = tmp_path / "numbers.yaml"
    file.write_text("flow: numbers\nkind: alert\nsteps:\n  - gather:\n      branches: {1: ok}\n"
                    "      on_timeout: ok\n  - id: ok\n    action: acknowledge\n", encoding="utf-8")
    verb = load_flow(file).step("#1").verb
    assert isinstance(verb, Gather) and verb.branches == {"1": "ok"}

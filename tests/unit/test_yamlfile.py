"""Operator-edited YAML: every key keeps its line, and every error names ``file:line``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from callcenter.yamlfile import ConfigFileError, load_located, parse_located

FLOW = """\
# greeting flow
name: 问候
steps:
  - say: 您好
    next: menu

  - id: menu
    keys:
      "1": coming
      "2": declined
"""


def _write(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    file = tmp_path / name
    file.write_text(text, encoding="utf-8")
    return file


def test_every_key_and_item_has_its_line(tmp_path: Path) -> None:
    located = load_located(_write(tmp_path, FLOW))
    assert located.data["steps"][1]["keys"]["2"] == "declined"
    assert located.line_of(("name",)) == 2
    assert located.line_of(("steps",)) == 3
    assert located.line_of(("steps", 0)) == 4
    assert located.line_of(("steps", 0, "next")) == 5
    assert located.line_of(("steps", 1)) == 7
    assert located.line_of(("steps", 1, "keys", "2")) == 10
    assert located.line_of(()) == 2


def test_a_path_without_a_line_falls_back_to_its_nearest_ancestor(tmp_path: Path) -> None:
    located = load_located(_write(tmp_path, FLOW))
    assert located.line_of(("steps", 1, "timeout")) == 7
    assert located.line_of(("steps", 9, "say")) == 3
    assert located.line_of(("nowhere",)) == 2


def test_error_names_file_and_line(tmp_path: Path) -> None:
    file = _write(tmp_path, FLOW)
    error = load_located(file).error(("steps", 0, "next"), "unknown step 'menu2'")
    assert isinstance(error, ConfigFileError)
    assert str(error) == f"{file}:5: unknown step 'menu2'"
    assert (error.file, error.line, error.reason) == (file, 5, "unknown step 'menu2'")


def test_an_empty_file_has_no_data_and_no_lines(tmp_path: Path) -> None:
    located = load_located(_write(tmp_path, "# nothing yet\n"))
    assert located.data is None
    assert located.lines == {}
    assert str(located.error((), "must be a mapping")) == f"{tmp_path / 'flow.yaml'}: must be a mapping"


def test_a_file_that_is_not_utf8_cannot_be_read(tmp_path: Path) -> None:
    file = tmp_path / "gbk.yaml"
    file.write_bytes("名称: 问候\n".encode("gbk"))
    with pytest.raises(ConfigFileError) as caught:
        load_located(file)
    assert caught.value.line is None
    assert str(caught.value).startswith(f"{file}: cannot read: ")


def test_invalid_yaml_names_the_line_where_parsing_stopped(tmp_path: Path) -> None:
    file = _write(tmp_path, "name: 问候\nsteps:\n  - say: \"您好\n")
    with pytest.raises(ConfigFileError) as caught:
        load_located(file)
    assert str(caught.value) == (f"{file}:4: not valid YAML: found unexpected end of stream "
                                 "(while scanning a quoted scalar that starts on line 3)")


def test_a_key_given_twice_in_one_mapping_is_an_error(tmp_path: Path) -> None:
    file = _write(tmp_path, "steps:\n  - say: 您好\n    next: a\n    next: b\n")
    with pytest.raises(ConfigFileError) as caught:
        load_located(file)
    assert str(caught.value) == f"{file}:4: duplicate key 'next'"


def test_the_same_key_in_different_mappings_and_merge_keys_are_fine(tmp_path: Path) -> None:
    text = "base: &base {say: 您好}\nsteps:\n  - <<: *base\n    next: a\n  - <<: *base\n    next: b\n"
    located = load_located(_write(tmp_path, text))
    assert located.data["steps"] == [{"say": "您好", "next": "a"}, {"say": "您好", "next": "b"}]


class _FlowError(ValueError):
    def __init__(self, path: tuple[str | int, ...], reason: str) -> None:
        super().__init__(reason)
        self.path = path


def _build(data: Any) -> str:
    if "menu" not in str(data):
        raise _FlowError(("steps",), "no menu")
    raise _FlowError(("steps", 1, "keys", "1"), "unknown step 'coming'")


def test_parse_located_turns_a_build_error_into_file_and_line(tmp_path: Path) -> None:
    file = _write(tmp_path, FLOW)
    with pytest.raises(ConfigFileError) as caught:
        parse_located(file, _build, _FlowError, lambda e: getattr(e, "path", ()))
    assert str(caught.value) == f"{file}:9: unknown step 'coming'"


def test_parse_located_returns_what_build_returns_and_lets_other_errors_through(tmp_path: Path) -> None:
    file = _write(tmp_path, FLOW)
    assert parse_located(file, lambda d: d["name"], _FlowError, lambda e: ()) == "问候"
    with pytest.raises(KeyError):
        parse_located(file, lambda d: d["missing"], _FlowError, lambda e: ())


def test_config_file_error_without_a_line() -> None:
    assert str(ConfigFileError(Path("config/x.yaml"), None, "cannot read")) == "config/x.yaml: cannot read"
    assert str(ConfigFileError(Path("config/x.yaml"), 3, "bad")) == "config/x.yaml:3: bad"

"""YAML files an operator edits (policies, flows, messages), read with the line of every key.

Validation errors name ``file:line`` so a typo is found without reading a stack trace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

__all__ = ["ConfigFileError", "KeyPath", "LocatedYaml", "load_located", "parse_located"]

T = TypeVar("T")
KeyPath = tuple[str | int, ...]


class ConfigFileError(ValueError):
    def __init__(self, file: Path, line: int | None, reason: str) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        where = f"{file}:{line}" if line else str(file)
        super().__init__(f"{where}: {reason}")


@dataclass
class LocatedYaml:
    file: Path
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path`` or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def error(self, path: KeyPath, reason: str) -> ConfigFileError:
        return ConfigFileError(self.file, self.line_of(path), reason)


def load_located(file: Path) -> LocatedYaml:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(file, None, f"cannot read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise ConfigFileError(file, line, f"not valid YAML: {_yaml_problem(exc, line)}") from None
    duplicate = _first_duplicate_key(node)
    if duplicate is not None:
        raise ConfigFileError(file, duplicate.start_mark.line + 1, f"duplicate key {duplicate.value!r}")
    located = LocatedYaml(file, data)
    if node is not None:
        for path, line in _walk(node, ()):
            located.lines.setdefault(path, line)
    return located


def _yaml_problem(exc: yaml.YAMLError, line: int | None) -> str:
    """The parser's complaint, and where the construct it was reading began when that is elsewhere."""
    reason = str(getattr(exc, "problem", None) or exc)
    context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and start is not None and start.line + 1 != line:
        reason += f" ({context} that starts on line {start.line + 1})"
    return reason


def _walk(node: yaml.Node, path: KeyPath) -> Iterator[tuple[KeyPath, int]]:
    yield path, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            yield child, key.start_mark.line + 1
            yield from _walk(value, child)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _walk(item, (*path, index))


def _first_duplicate_key(node: yaml.Node | None) -> yaml.Node | None:
    """A key given twice in one mapping (YAML forbids it; PyYAML would keep the last silently)."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                if key.value in seen:
                    return key
                seen.add(key.value)
            found = _first_duplicate_key(value)
            if found is not None:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found = _first_duplicate_key(item)
            if found is not None:
                return found
    return None


def parse_located(file: Path, build: Callable[[Any], T], error_type: type[Exception],
                  path_of: Callable[[Exception], KeyPath]) -> T:
    """Load ``file`` and build a value from it; a build error becomes ``file:line: reason``."""
    located = load_located(file)
    try:
        return build(located.data)
    except error_type as exc:
        raise located.error(path_of(exc), str(exc)) from None

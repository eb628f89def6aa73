"""Build a ``Flow`` from the mapping a flow file holds, checking everything an operator can get wrong.

Each step is a mapping with an optional ``id``, an optional ``next`` and exactly one verb:
``play`` (prompt id), ``say`` (text), ``gather``, ``branch``, ``record``, ``set``, ``action``,
``repeat``, ``goto``, ``hangup``. See docs/ivr.md for the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from callcenter.ivr.flow import (
    ACTIONS_BY_KIND,
    DTMF_KEYS,
    FACTS,
    MAX_RECORD_SECONDS,
    MAX_REPEATS,
    MAX_TIMEOUT_SECONDS,
    MAX_TRIES,
    SETTABLE_FIELDS,
    Action,
    Branch,
    Flow,
    FlowError,
    FlowKind,
    Gather,
    Goto,
    HangUp,
    KeyPath,
    Play,
    Record,
    Repeat,
    RunAction,
    SetField,
    Speech,
    Step,
    Verb,
    placeholders,
)

__all__ = ["parse_flow"]

TOP_KEYS = frozenset({"flow", "kind", "prompts", "steps"})
VERBS = ("play", "say", "gather", "branch", "record", "set", "action", "repeat", "goto", "hangup")
JUMPING_VERBS = frozenset({"goto", "hangup", "branch"})  # they never fall through, so ``next`` makes no sense
GATHER_KEYS = frozenset({"prompt", "say", "digits", "timeout", "tries", "branches", "on_timeout", "on_invalid"})


def parse_flow(data: Any) -> Flow:
    parser = _FlowParser(_mapping(data, (), "a flow file"))
    return parser.flow()


def _mapping(value: Any, path: KeyPath, what: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise FlowError(path, f"{what} must be a mapping")
    return value


def _text(value: Any, path: KeyPath, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FlowError(path, f"{what} must be a non-empty text")
    return value.strip()


def _number(value: Any, path: KeyPath, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < value <= high:
        raise FlowError(path, f"{what} must be a number of seconds above {low:g} and at most {high:g}")
    return float(value)


def _whole(value: Any, path: KeyPath, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FlowError(path, f"{what} must be a whole number from {low} to {high}")
    return value


def _check_keys(data: Mapping[Any, Any], allowed: frozenset[str], path: KeyPath, what: str) -> None:
    for key in data:
        if key not in allowed:
            raise FlowError((*path, key), f"unknown key {key!r} in {what} (allowed: {', '.join(sorted(allowed))})")


class _FlowParser:
    def __init__(self, data: Mapping[Any, Any]) -> None:
        _check_keys(data, TOP_KEYS, (), "a flow")
        self.data = data
        self.name = _text(data.get("flow"), ("flow",), "flow (the flow's name)")
        self.kind = self._kind()
        self.prompts = self._prompts()
        self.links: list[tuple[KeyPath, str]] = []  # every step id a step points at, checked at the end

    def flow(self) -> Flow:
        raw = self.data.get("steps")
        if not isinstance(raw, list) or not raw:
            raise FlowError(("steps",), "steps must be a non-empty list")
        ids = [self._step_id(item, index) for index, item in enumerate(raw)]
        self._unique(ids)
        steps = {}
        for index, item in enumerate(raw):
            following = ids[index + 1] if index + 1 < len(raw) else None
            steps[ids[index]] = self._step(item, index, ids[index], following)
        for path, target in self.links:
            if target not in steps:
                raise FlowError(path, f"no step with id {target!r}")
        _no_endless_loop(steps, ids)
        return Flow(self.name, self.kind, steps, ids[0], self.prompts)

    def _kind(self) -> FlowKind:
        value = self.data.get("kind")
        try:
            return FlowKind(str(value))
        except ValueError:
            allowed = ", ".join(k.value for k in FlowKind)
            raise FlowError(("kind",), f"kind must be one of: {allowed} (got {value!r})") from None

    def _prompts(self) -> dict[str, str]:
        raw = _mapping(self.data.get("prompts", {}) or {}, ("prompts",), "prompts")
        prompts = {}
        for key, text in raw.items():
            path: KeyPath = ("prompts", key)
            if not isinstance(key, str) or not key.isidentifier():
                raise FlowError(path, f"prompt id {key!r} must be a word of letters, digits and _")
            prompts[key] = self._speakable(text, path, f"prompt {key!r}")
        return prompts

    def _speakable(self, value: Any, path: KeyPath, what: str) -> str:
        text = _text(value, path, what)
        try:
            names = placeholders(text)
        except ValueError as exc:
            raise FlowError(path, f"{what}: bad placeholder braces ({exc})") from None
        for name in names:
            if name not in FACTS:
                raise FlowError(path, f"{what}: unknown placeholder {{{name}}} (known: {', '.join(FACTS)})")
        return text

    def _step_id(self, item: Any, index: int) -> str:
        step = _mapping(item, ("steps", index), f"step {index + 1}")
        if "id" not in step:
            return f"#{index + 1}"
        value = step["id"]
        if not isinstance(value, str) or not value.isidentifier():
            raise FlowError(("steps", index, "id"), f"step id {value!r} must be a word of letters, digits and _")
        return value

    def _unique(self, ids: list[str]) -> None:
        seen: set[str] = set()
        for index, step_id in enumerate(ids):
            if step_id in seen:
                raise FlowError(("steps", index, "id"), f"step id {step_id!r} is used twice")
            seen.add(step_id)

    def _step(self, item: Mapping[Any, Any], index: int, step_id: str, following: str | None) -> Step:
        path: KeyPath = ("steps", index)
        _check_keys(item, frozenset({"id", "next", *VERBS}), path, "a step")
        verbs = [key for key in VERBS if key in item]
        if len(verbs) != 1:
            found = ", ".join(verbs) or "none"
            raise FlowError(path, f"a step needs exactly one of {', '.join(VERBS)} (found: {found})")
        verb = verbs[0]
        if "next" in item and verb in JUMPING_VERBS:
            raise FlowError((*path, "next"), f"a {verb} step never falls through: remove next")
        if "next" in item:
            after: str | None = self._link(item["next"], (*path, "next"))
        else:
            after = None if verb in JUMPING_VERBS else following
        built = _BUILDERS[verb](self, item[verb], (*path, verb), after)
        return Step(step_id, built, after)

    def _link(self, value: Any, path: KeyPath) -> str:
        if not isinstance(value, str) or not value:
            raise FlowError(path, "must name a step id")
        self.links.append((path, value))
        return value

    def _link_or_next(self, data: Mapping[Any, Any], key: str, path: KeyPath, after: str | None,
                      default: str | None = None) -> str:
        if key in data:
            return self._link(data[key], (*path, key))
        target = default or after
        if target is None:
            raise FlowError(path, f"{key} is needed: nothing follows this step")
        return target

    def _speech(self, data: Mapping[Any, Any], path: KeyPath) -> Speech | None:
        if "prompt" in data and "say" in data:
            raise FlowError(path, "give either prompt or say, not both")
        if "prompt" in data:
            return self._play_prompt(data["prompt"], (*path, "prompt"), None).speech
        if "say" in data:
            return Speech(text=self._speakable(data["say"], (*path, "say"), "say"))
        return None

    # -- one builder per verb ------------------------------------------------------------------

    def _play_prompt(self, value: Any, path: KeyPath, after: str | None) -> Play:
        prompt = _text(value, path, "play (a prompt id)")
        if prompt not in self.prompts:
            raise FlowError(path, f"unknown prompt {prompt!r} (defined: {', '.join(self.prompts) or 'none'})")
        return Play(Speech(prompt=prompt))

    def _say(self, value: Any, path: KeyPath, after: str | None) -> Play:
        return Play(Speech(text=self._speakable(value, path, "say")))

    def _gather(self, value: Any, path: KeyPath, after: str | None) -> Gather:
        data = _mapping(value, path, "gather")
        _check_keys(data, GATHER_KEYS, path, "gather")
        digits = _whole(data.get("digits", 1), (*path, "digits"), "digits", 1, 20)
        branches = self._branches(data.get("branches"), (*path, "branches"), digits)
        on_timeout = self._link_or_next(data, "on_timeout", path, after)
        return Gather(
            speech=self._speech(data, path), branches=branches, on_timeout=on_timeout,
            on_invalid=self._link_or_next(data, "on_invalid", path, after, default=on_timeout),
            digits=digits, timeout=_number(data.get("timeout", 5), (*path, "timeout"), "timeout", 0,
                                           MAX_TIMEOUT_SECONDS),
            tries=_whole(data.get("tries", 1), (*path, "tries"), "tries", 1, MAX_TRIES),
        )

    def _branches(self, value: Any, path: KeyPath, digits: int) -> dict[str, str]:
        raw = _mapping(value, path, "branches (keys pressed → step id)")
        if not raw:
            raise FlowError(path, "branches must name at least one key")
        branches = {}
        for key, target in raw.items():
            keys = str(key)
            if len(keys) != digits or not set(keys) <= DTMF_KEYS or isinstance(key, bool):
                raise FlowError((*path, keys), f"branch key {key!r} must be {digits} of 0-9, * and #")
            branches[keys] = self._link(target, (*path, keys))
        return branches

    def _branch(self, value: Any, path: KeyPath, after: str | None) -> Branch:
        data = _mapping(value, path, "branch")
        _check_keys(data, frozenset({"fact", "cases", "else"}), path, "branch")
        fact = _text(data.get("fact"), (*path, "fact"), "branch fact")
        if fact not in FACTS:
            raise FlowError((*path, "fact"), f"unknown fact {fact!r} (known: {', '.join(FACTS)})")
        cases = _mapping(data.get("cases"), (*path, "cases"), "branch cases (value → step id)")
        linked = {str(k): self._link(t, (*path, "cases", str(k))) for k, t in cases.items()}
        if "else" not in data:
            raise FlowError(path, "branch needs else: the step when no case matches")
        return Branch(fact, linked, self._link(data["else"], (*path, "else")))

    def _record(self, value: Any, path: KeyPath, after: str | None) -> Record:
        data = _mapping(value, path, "record")
        _check_keys(data, frozenset({"max_seconds", "stop_digits"}), path, "record")
        seconds = _number(data.get("max_seconds"), (*path, "max_seconds"), "max_seconds", 0, MAX_RECORD_SECONDS)
        stop = data.get("stop_digits", "#")
        if not isinstance(stop, str) or not set(stop) <= DTMF_KEYS:
            raise FlowError((*path, "stop_digits"), "stop_digits must be keys from 0-9, * and #")
        return Record(seconds, stop)

    def _set(self, value: Any, path: KeyPath, after: str | None) -> SetField:
        data = _mapping(value, path, "set (field: value)")
        if len(data) != 1:
            raise FlowError(path, "set takes exactly one field: value")
        (name, field_value), = data.items()
        if name not in SETTABLE_FIELDS:
            raise FlowError((*path, name), f"unknown incident field {name!r} (settable: {', '.join(SETTABLE_FIELDS)})")
        if field_value not in SETTABLE_FIELDS[name]:
            allowed = ", ".join(sorted(SETTABLE_FIELDS[name]))
            raise FlowError((*path, name), f"{name} cannot be {field_value!r} (allowed: {allowed})")
        return SetField(name, field_value)

    def _action(self, value: Any, path: KeyPath, after: str | None) -> RunAction:
        allowed = ACTIONS_BY_KIND[self.kind]
        try:
            action = Action(value)
        except ValueError:
            action = None
        if action not in allowed:
            names = ", ".join(sorted(a.value for a in allowed))
            raise FlowError(path, f"action {value!r} is not allowed in a {self.kind} flow (allowed: {names})")
        assert action is not None
        return RunAction(action)

    def _repeat(self, value: Any, path: KeyPath, after: str | None) -> Repeat:
        data = _mapping(value, path, "repeat")
        _check_keys(data, frozenset({"goto", "times"}), path, "repeat")
        times = _whole(data.get("times"), (*path, "times"), "times", 1, MAX_REPEATS)
        if after is None:
            raise FlowError(path, "a repeat needs a step after it for when the repeats are used up")
        return Repeat(self._link(data.get("goto"), (*path, "goto")), times)

    def _goto(self, value: Any, path: KeyPath, after: str | None) -> Goto:
        return Goto(self._link(value, path))

    def _hangup(self, value: Any, path: KeyPath, after: str | None) -> HangUp:
        if value is not True:
            raise FlowError(path, "write hangup: true")
        return HangUp()


def _instant_targets(step: Step) -> list[str]:
    """Where a step goes without waiting for the caller; a repeat's way back is bounded, so not followed."""
    verb = step.verb
    if isinstance(verb, Gather | Record | Repeat | HangUp):
        return []
    if isinstance(verb, Goto):
        return [verb.target]
    if isinstance(verb, Branch):
        return [*verb.cases.values(), verb.otherwise]
    return [step.next] if step.next else []


def _no_endless_loop(steps: Mapping[str, Step], ids: list[str]) -> None:
    """A cycle of steps that never wait for the caller and pass no repeat would spin forever."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(step_id: str) -> None:
        state[step_id] = 1
        for target in _instant_targets(steps[step_id]):
            if state.get(target) == 1:
                raise FlowError(("steps", ids.index(target)),
                                f"steps from {target!r} loop back to it without waiting for a key or passing a repeat")
            if target not in state:
                visit(target)
        state[step_id] = 2

    for step_id in ids:
        if step_id not in state:
            visit(step_id)


_BUILDERS: dict[str, Callable[[_FlowParser, Any, KeyPath, str | None], Verb]] = {
    "play": _FlowParser._play_prompt,
    "say": _FlowParser._say,
    "gather": _FlowParser._gather,
    "branch": _FlowParser._branch,
    "record": _FlowParser._record,
    "set": _FlowParser._set,
    "action": _FlowParser._action,
    "repeat": _FlowParser._repeat,
    "goto": _FlowParser._goto,
    "hangup": _FlowParser._hangup,
}

"""The escalation policy as data: levels, targets, channels, waits, quorum, redial.

Built from a plain mapping (read from ``config/escalation.yaml``); every problem raises
PolicyError with the path of the offending key so the loader can name the file line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, TypeVar

from callcenter.domain.types import Channel, LegStatus
from contacts.model import Role

__all__ = [
    "LEVEL_CLOCKS", "Congestion", "EscalationPolicy", "Level", "MassEvent", "Path", "PolicyError", "PressLimit",
    "Quorum", "Redial", "SourceLimit", "Target", "policy_from_mapping",
]

Path = tuple[str | int, ...]
_E = TypeVar("_E", bound=StrEnum)


class PolicyError(ValueError):
    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{'.'.join(str(p) for p in path) or '<top>'}: {reason}")


@dataclass(frozen=True, slots=True)
class Target:
    role: Role
    channels: tuple[Channel, ...]


@dataclass(frozen=True, slots=True)
class Quorum:
    acknowledgements: int = 2
    any_of_roles: frozenset[Role] = frozenset({Role.GRID_WORKER})

    def met(self, acknowledged_roles: Sequence[Role]) -> bool:
        return len(acknowledged_roles) >= self.acknowledgements or any(
            r in self.any_of_roles for r in acknowledged_roles
        )


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    targets: tuple[Target, ...]
    wait: timedelta | None  # before the next level; None on the last
    operators: bool = False
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class Redial:
    after: timedelta = timedelta(seconds=30)
    max_redials: int = 2
    call_outcomes: frozenset[LegStatus] = frozenset({
        LegStatus.BUSY, LegStatus.NO_ANSWER, LegStatus.FAILED, LegStatus.ANSWERED_WITHOUT_KEY,
    })
    sms_outcomes: frozenset[LegStatus] = frozenset({LegStatus.FAILED, LegStatus.UNDELIVERED})

    def wants(self, channel: Channel, outcome: LegStatus) -> bool:
        pool = self.call_outcomes if channel is Channel.CALL else self.sms_outcomes
        return outcome in pool


@dataclass(frozen=True, slots=True)
class PressLimit:
    """How many presses of one line count, so that a stuck key cannot flood the neighbours.

    At most ``counted_per_minute`` presses from one line in any 60 s count (the opening press
    included); more join the open incident's timeline without climbing. A press within
    ``cooldown_after_close`` of the household's last incident being closed opens a new incident
    flagged for the operators (a stuck key, or a second emergency).
    """

    counted_per_minute: int = 3
    cooldown_after_close: timedelta = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class SourceLimit:
    """How many unverified presses one network source may make before it is banned.

    A source (the address a 995 call came from, as the edge saw it) that makes more than ``presses``
    unverified presses within ``window`` is banned for ``ban``: its presses still open (or join) an
    incident the operators see, but that incident stays held until an operator releases it, and so do
    the ones it opened before the ban. Verified presses are never limited here.
    """

    presses: int = 5
    window: timedelta = timedelta(minutes=10)
    ban: timedelta = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class MassEvent:
    """When many incidents alert at once in one township, its upper levels get a summary.

    With ``open_incidents`` or more incidents alerting at once in a township (a typhoon, a flood), the
    targets of levels from ``summary_from_level`` on (village station, township duty officer, police)
    are not called once per incident: each gets one SMS every ``summary_every`` with the count and the
    link to the township's list, for as long as the mass event lasts. Their incidents still climb, and
    the operators still see each one.
    """

    open_incidents: int = 10
    summary_from_level: int = 2
    summary_every: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Congestion:
    """What changes while calls wait for trunk channels (a mass event fills the trunk).

    ``quorum_margin``: with calls waiting, an incident has at most its quorum's remaining need plus this
    many calls up at once; the next ones ring as those end, and others' first calls come before them.
    ``level_clock``: ``first_call`` (default): a level's wait runs from when its first call could ring,
    so an incident whose neighbours were never called is not escalated past them by a timer;
    ``entered``: from when the level was entered, whatever the trunk.
    """

    quorum_margin: int = 1
    level_clock: str = "first_call"
    mass_event: MassEvent = MassEvent()

    @property
    def clock_from_first_call(self) -> bool:
        return self.level_clock == "first_call"


LEVEL_CLOCKS = ("first_call", "entered")


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    levels: tuple[Level, ...]
    quorum: Quorum = Quorum()
    redial: Redial = Redial()
    repeat_press_window: timedelta = timedelta(minutes=10)
    repeat_press_jump: int = 1
    ring_timeout: timedelta = timedelta(seconds=30)
    press_limit: PressLimit = PressLimit()
    # A press whose caller the edge could not verify (a forged number rings nobody): the operators see
    # it at once, the neighbours are alerted when one of them releases it, or after this hold if none
    # does (an unattended night is no dropped emergency). Zero: alerted at once, only flagged.
    unverified_hold: timedelta = timedelta(seconds=90)
    source_limit: SourceLimit = SourceLimit()
    congestion: Congestion = Congestion()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def level(self, index: int) -> Level | None:
        return self.levels[index] if 0 <= index < len(self.levels) else None

    def calls_wanted(self, acknowledgements: int) -> int:
        """Calls an incident with this many acknowledgements wants up at once while calls wait."""
        return max(1, self.quorum.acknowledgements - acknowledgements) + self.congestion.quorum_margin


def policy_from_mapping(data: Mapping[str, Any]) -> EscalationPolicy:
    data = _mapping(data, ())
    _only_keys(data, (), {"levels", "quorum", "redial", "repeat_press", "ring_timeout_seconds", "unverified_caller",
                          "congestion"})
    levels = _levels(_required(data, (), "levels"))
    repeat = _mapping(data.get("repeat_press", {}), ("repeat_press",))
    _only_keys(repeat, ("repeat_press",), {"window_seconds", "jump_levels", "counted_per_minute",
                                           "cooldown_after_close_seconds"})
    unverified = _mapping(data.get("unverified_caller", {}), ("unverified_caller",))
    return EscalationPolicy(
        levels=levels,
        quorum=_quorum(_mapping(data.get("quorum", {}), ("quorum",))),
        redial=_redial(_mapping(data.get("redial", {}), ("redial",))),
        repeat_press_window=_seconds(repeat.get("window_seconds", 600), ("repeat_press", "window_seconds")),
        repeat_press_jump=_int(repeat.get("jump_levels", 1), ("repeat_press", "jump_levels"), 0),
        ring_timeout=_seconds(data.get("ring_timeout_seconds", 30), ("ring_timeout_seconds",), minimum=1),
        press_limit=_press_limit(repeat),
        unverified_hold=_unverified_hold(unverified),
        source_limit=_source_limit(_mapping(unverified.get("per_source", {}), ("unverified_caller", "per_source"))),
        congestion=_congestion(_mapping(data.get("congestion", {}), ("congestion",))),
    )


def _congestion(data: Mapping[str, Any]) -> Congestion:
    path: Path = ("congestion",)
    _only_keys(data, path, {"quorum_margin", "level_clock", "mass_event"})
    clock = data.get("level_clock", "first_call")
    if clock not in LEVEL_CLOCKS:
        raise PolicyError((*path, "level_clock"), f"unknown value {clock!r} (allowed: {', '.join(LEVEL_CLOCKS)})")
    mass = _mapping(data.get("mass_event", {}), (*path, "mass_event"))
    _only_keys(mass, (*path, "mass_event"), {"open_incidents", "summary_from_level", "summary_every_seconds"})
    # From the third level (village station, township) on by default; past the last level: no summaries.
    from_level = _int(mass.get("summary_from_level", 2), (*path, "mass_event", "summary_from_level"), 1)
    return Congestion(
        quorum_margin=_int(data.get("quorum_margin", 1), (*path, "quorum_margin"), 0),
        level_clock=str(clock),
        mass_event=MassEvent(
            open_incidents=_int(mass.get("open_incidents", 10), (*path, "mass_event", "open_incidents"), 2),
            summary_from_level=from_level,
            summary_every=_seconds(mass.get("summary_every_seconds", 300),
                                   (*path, "mass_event", "summary_every_seconds"), minimum=30),
        ),
    )


def _unverified_hold(data: Mapping[str, Any]) -> timedelta:
    _only_keys(data, ("unverified_caller",), {"release_after_seconds", "per_source"})
    return _seconds(data.get("release_after_seconds", 90), ("unverified_caller", "release_after_seconds"))


def _source_limit(data: Mapping[str, Any]) -> SourceLimit:
    path: Path = ("unverified_caller", "per_source")
    _only_keys(data, path, {"presses", "window_seconds", "ban_seconds"})
    return SourceLimit(
        presses=_int(data.get("presses", 5), (*path, "presses"), 1),
        window=_seconds(data.get("window_seconds", 600), (*path, "window_seconds"), minimum=1),
        ban=_seconds(data.get("ban_seconds", 3600), (*path, "ban_seconds"), minimum=1),
    )


def _press_limit(repeat: Mapping[str, Any]) -> PressLimit:
    path: Path = ("repeat_press",)
    return PressLimit(
        counted_per_minute=_int(repeat.get("counted_per_minute", 3), (*path, "counted_per_minute"), 1),
        cooldown_after_close=_seconds(repeat.get("cooldown_after_close_seconds", 120),
                                      (*path, "cooldown_after_close_seconds")),
    )


def _levels(raw: Any) -> tuple[Level, ...]:
    if not isinstance(raw, list) or not raw:
        raise PolicyError(("levels",), "must be a non-empty list of levels")
    levels = tuple(_level(item, ("levels", i), last=i == len(raw) - 1) for i, item in enumerate(raw))
    return levels


def _level(raw: Any, path: Path, last: bool) -> Level:
    data = _mapping(raw, path)
    _only_keys(data, path, {"name", "targets", "next_after_seconds", "operators", "urgent"})
    wait_raw = data.get("next_after_seconds")
    if wait_raw is None and not last:
        raise PolicyError((*path, "next_after_seconds"), "required on every level but the last")
    if wait_raw is not None and last:
        raise PolicyError((*path, "next_after_seconds"), "the last level has no next level")
    targets = data.get("targets", [])
    if not isinstance(targets, list):
        raise PolicyError((*path, "targets"), "must be a list")
    return Level(
        name=str(data.get("name", f"level {path[-1]}")),
        targets=tuple(_target(t, (*path, "targets", i)) for i, t in enumerate(targets)),
        wait=None if wait_raw is None else _seconds(wait_raw, (*path, "next_after_seconds"), minimum=1),
        operators=_bool(data.get("operators", False), (*path, "operators")),
        urgent=_bool(data.get("urgent", False), (*path, "urgent")),
    )


def _target(raw: Any, path: Path) -> Target:
    data = _mapping(raw, path)
    _only_keys(data, path, {"role", "channels"})
    role = _enum(Role, _required(data, path, "role"), (*path, "role"))
    channels = _required(data, path, "channels")
    if not isinstance(channels, list) or not channels:
        raise PolicyError((*path, "channels"), "must be a non-empty list of: call, sms")
    return Target(role, tuple(_enum(Channel, c, (*path, "channels", i)) for i, c in enumerate(channels)))


def _quorum(data: Mapping[str, Any]) -> Quorum:
    _only_keys(data, ("quorum",), {"acknowledgements", "any_of_roles"})
    roles = data.get("any_of_roles", ["grid_worker"])
    if not isinstance(roles, list):
        raise PolicyError(("quorum", "any_of_roles"), "must be a list of roles")
    return Quorum(
        acknowledgements=_int(data.get("acknowledgements", 2), ("quorum", "acknowledgements"), 1),
        any_of_roles=frozenset(_enum(Role, r, ("quorum", "any_of_roles", i)) for i, r in enumerate(roles)),
    )


def _redial(data: Mapping[str, Any]) -> Redial:
    path: Path = ("redial",)
    _only_keys(data, path, {"after_seconds", "max_redials", "call_outcomes", "sms_outcomes"})
    default = Redial()
    return Redial(
        after=_seconds(data.get("after_seconds", 30), (*path, "after_seconds"), minimum=1),
        max_redials=_int(data.get("max_redials", 2), (*path, "max_redials"), 0),
        call_outcomes=_statuses(data, "call_outcomes", default.call_outcomes, Channel.CALL),
        sms_outcomes=_statuses(data, "sms_outcomes", default.sms_outcomes, Channel.SMS),
    )


_REDIALABLE = {
    Channel.CALL: {LegStatus.BUSY, LegStatus.NO_ANSWER, LegStatus.FAILED, LegStatus.ANSWERED_WITHOUT_KEY,
                   LegStatus.DECLINED},
    Channel.SMS: {LegStatus.FAILED, LegStatus.UNDELIVERED},
}


def _statuses(data: Mapping[str, Any], key: str, default: frozenset[LegStatus],
              channel: Channel) -> frozenset[LegStatus]:
    raw = data.get(key)
    if raw is None:
        return default
    if not isinstance(raw, list):
        raise PolicyError(("redial", key), "must be a list of outcomes")
    found = [_enum(LegStatus, s, ("redial", key, i)) for i, s in enumerate(raw)]
    for i, status in enumerate(found):
        if status not in _REDIALABLE[channel]:
            allowed = ", ".join(sorted(_REDIALABLE[channel]))
            raise PolicyError(("redial", key, i), f"{status} cannot be redialled (allowed: {allowed})")
    return frozenset(found)


def _mapping(raw: Any, path: Path) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise PolicyError(path, "must be a mapping of keys to values")
    return raw


def _only_keys(data: Mapping[str, Any], path: Path, allowed: set[str]) -> None:
    for key in data:
        if key not in allowed:
            raise PolicyError((*path, key), f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _required(data: Mapping[str, Any], path: Path, key: str) -> Any:
    if key not in data:
        raise PolicyError((*path, key), "is required")
    return data[key]


def _enum(kind: type[_E], raw: Any, path: Path) -> _E:
    try:
        return kind(raw)
    except ValueError:
        allowed = ", ".join(str(m) for m in kind)
        raise PolicyError(path, f"unknown value {raw!r} (allowed: {allowed})") from None


def _int(raw: Any, path: Path, minimum: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum:
        raise PolicyError(path, f"must be a whole number ≥ {minimum}")
    return raw


def _seconds(raw: Any, path: Path, minimum: int = 0) -> timedelta:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw) or raw < minimum:
        raise PolicyError(path, f"must be a number of seconds ≥ {minimum}")
    try:
        return timedelta(seconds=raw)
    except OverflowError:
        raise PolicyError(path, "is too large a number of seconds") from None


def _bool(raw: Any, path: Path) -> bool:
    if not isinstance(raw, bool):
        raise PolicyError(path, "must be true or false")
    return raw

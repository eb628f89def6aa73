"""Reading one cell: lists, name:phone pairs, care flags, roles and scope paths.

Every reader takes the cell text and returns a value or raises CellError with a reason a grid
worker can act on. No reader knows about rows or files.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from contacts.errors import InvalidPhoneNumber
from contacts.model import CARE_FLAG_LABELS, ROLE_LABELS, ROLE_SCOPES, CareFlag, Contact, Role, ScopeLevel
from contacts.phones import PhonePolicy, normalise_phone
from contacts.roster.columns import fold

MAX_CONTACTS = 2

_LINE_SEPARATORS = re.compile(r"[；;，,、\n]")
_PAIR_SEPARATORS = re.compile(r"[；;\n]")
_NAME_SEPARATORS = re.compile(r"[；;，,、\n]")
_FLAG_SEPARATORS = re.compile(r"[；;，,、\s]")
_PAIR_COLON = re.compile(r"[:：]")
_PATH_SEPARATORS = re.compile(r"[/／>＞]")
_WHITESPACE = re.compile(r"\s+")
# A whitespace-separated piece must be this long to count as a number of its own, so that
# "138 1234 5678" stays one mobile instead of three short extensions.
_MIN_SPACED_NUMBER = 7

_CARE_NAMES: dict[str, CareFlag] = {
    **{fold(label): flag for flag, label in CARE_FLAG_LABELS.items()},
    **{fold(flag.value): flag for flag in CareFlag},
}
_ROLE_NAMES: dict[str, Role] = {
    **{fold(label): role for role, label in ROLE_LABELS.items()},
    **{fold(role.value): role for role in Role},
    "中心户": Role.GRID_CENTRE_HOUSEHOLD,
    "村级站": Role.VILLAGE_STATION,
    "网格站": Role.VILLAGE_STATION,
    "网格管理站": Role.VILLAGE_STATION,
    "村网格管理站": Role.VILLAGE_STATION,
    "乡镇值班": Role.TOWNSHIP_DUTY_OFFICER,
    "值班员": Role.TOWNSHIP_DUTY_OFFICER,
    "民警": Role.POLICE_STATION,
    "巡逻队员": Role.VOLUNTEER,
}
# Depth of a scope path → the level it names.
PATH_LEVELS: dict[int, ScopeLevel] = {
    1: ScopeLevel.TOWN, 2: ScopeLevel.VILLAGE, 3: ScopeLevel.GRID, 4: ScopeLevel.GROUP,
}
LEVEL_PATHS: dict[ScopeLevel, str] = {
    ScopeLevel.TOWN: "乡镇", ScopeLevel.VILLAGE: "乡镇/村", ScopeLevel.GRID: "乡镇/村/网格",
    ScopeLevel.GROUP: "乡镇/村/网格/联防组",
}
_LEVEL_NAMES: dict[ScopeLevel, str] = {
    ScopeLevel.TOWN: "a town", ScopeLevel.VILLAGE: "a village", ScopeLevel.GRID: "a grid",
    ScopeLevel.GROUP: "a joint-defense group",
}


class CellError(ValueError):
    """A cell that cannot be read; the message is the reason shown to the grid worker."""


def split(text: str, separators: re.Pattern[str]) -> list[str]:
    return [part.strip() for part in separators.split(text) if part.strip()]


def text_of(limit: int) -> Callable[[str], str]:
    """A plain text cell that must fit the database column."""

    def read(text: str) -> str:
        if len(text) > limit:
            raise CellError(f"too long: {len(text)} characters, at most {limit}")
        return text

    return read


def phone(text: str, policy: PhonePolicy) -> str:
    try:
        return normalise_phone(text, policy)
    except InvalidPhoneNumber as exc:
        raise CellError(f"invalid phone number {exc.raw!r}: {exc.reason}") from None


def emergency_lines(text: str, policy: PhonePolicy) -> tuple[str, ...]:
    """Numbers separated by ；;,、 or whitespace, in order, each once."""
    numbers: list[str] = []
    for part in split(text, _LINE_SEPARATORS):
        numbers += _spaced_numbers(part, policy)
    return tuple(dict.fromkeys(numbers))


def _spaced_numbers(part: str, policy: PhonePolicy) -> list[str]:
    pieces = _WHITESPACE.split(part)
    if len(pieces) == 1 or any(len(p) < _MIN_SPACED_NUMBER for p in pieces):
        return [phone(part, policy)]
    try:
        return [phone(part, policy)]
    except CellError:
        return [phone(p, policy) for p in pieces]


def contact_pairs(text: str, policy: PhonePolicy, limit: int | None = None) -> tuple[Contact, ...]:
    """``姓名:电话`` pairs separated by ；or ;, at most ``limit`` of them."""
    pairs = split(text, _PAIR_SEPARATORS)
    if limit is not None and len(pairs) > limit:
        raise CellError(f"{len(pairs)} contacts; a household has at most {limit}")
    return tuple(_pair(p, policy) for p in pairs)


def _pair(text: str, policy: PhonePolicy) -> Contact:
    parts = [p.strip() for p in _PAIR_COLON.split(text, maxsplit=1)]
    if len(parts) != 2 or not all(parts):
        raise CellError(f"{text!r} is not a 姓名:电话 pair (write it like 张三:13800000001)")
    name, number = parts
    try:
        return Contact(text_of(64)(name), normalise_phone(number, policy))
    except InvalidPhoneNumber as exc:
        raise CellError(f"invalid phone number {exc.raw!r} of {name}: {exc.reason}") from None


def names(text: str) -> tuple[str, ...]:
    return tuple(text_of(64)(name) for name in split(text, _NAME_SEPARATORS))


def care_flags(text: str) -> frozenset[CareFlag]:
    flags = set()
    for word in split(text, _FLAG_SEPARATORS):
        flag = _CARE_NAMES.get(fold(word))
        if flag is None:
            raise CellError(f"unknown care flag {word!r}; use {'、'.join(CARE_FLAG_LABELS.values())}")
        flags.add(flag)
    return frozenset(flags)


def role(text: str) -> Role:
    found = _ROLE_NAMES.get(fold(text))
    if found is None:
        choices = "、".join(label for r, label in ROLE_LABELS.items() if r is not Role.HOUSEHOLD_CONTACT)
        raise CellError(f"unknown role {text!r}; use {choices}")
    return found


def scope_path(text: str) -> tuple[str, ...]:
    """``乡镇/村/网格`` → its names; / ／ and > all separate."""
    parts = tuple(p.strip() for p in _PATH_SEPARATORS.split(text))
    if not all(parts) or len(parts) > len(PATH_LEVELS):
        raise CellError(f"{text!r} is not a path like 乡镇/村/网格")
    return tuple(text_of(64)(p) for p in parts)


def check_scope(path: tuple[str, ...], who: Role) -> str:
    """Empty when ``who`` may cover the level ``path`` names, else the reason."""
    if who is Role.HOUSEHOLD_CONTACT:
        return f"{ROLE_LABELS[who]} come from the 联系人 column of the households sheet, not from this one"
    allowed = ROLE_SCOPES[who]
    level = PATH_LEVELS[len(path)]
    if level in allowed:
        return ""
    expected = " or ".join(LEVEL_PATHS[a] for a in allowed)
    return f"{'/'.join(path)!r} is {_LEVEL_NAMES[level]}; a {ROLE_LABELS[who]} covers {expected}"

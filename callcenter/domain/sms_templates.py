"""Approved SMS templates: fitting a message's values to a provider's template before it is sent.

Mainland Chinese SMS providers (Aliyun, Tencent Cloud) send only pre-approved templates under an approved
signature (签名, shown as 【…】): we pass a template code and named values, the provider renders the text.
Each provider's rules on the values (characters per variable, no links, phone numbers only in a variable
declared as one) are checked here, before sending, so that a message the provider would refuse — or
worse, send cut short — is refused with the reason and goes to the next provider instead.

A ``TemplateBook`` is one provider's set: for each message kind (LegPurpose) the approved text, its
code and its variables in order. Template texts are written in the provider's own syntax, so they can
be pasted from the provider's console unchanged: ``${name}`` (Aliyun) or ``{1}`` (Tencent).

Pure: no I/O, no provider SDK.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from callcenter.domain.messages import ELLIPSIS, SINGLE_SEGMENT, segments
from callcenter.domain.types import LegPurpose

__all__ = [
    "FittedSms", "ProviderTemplate", "TemplateBook", "TemplateMismatch", "TemplateSyntax", "TemplateVariable",
    "VariableKind",
]


class TemplateMismatch(ValueError):
    """The values do not fit the approved template (the message says which value and why)."""


class TemplateSyntax(StrEnum):
    NAMED = "named"  # ${label} (Aliyun)
    NUMBERED = "numbered"  # {1} (Tencent)


_PLACEHOLDER = {
    TemplateSyntax.NAMED: re.compile(r"\$\{([A-Za-z][A-Za-z0-9_]*)\}"),
    TemplateSyntax.NUMBERED: re.compile(r"\{([1-9][0-9]*)\}"),
}


class VariableKind(StrEnum):
    """What a provider allows in a variable. TEXT holds no link and no phone number; PHONE only a number."""

    TEXT = "text"
    PHONE = "phone"
    NUMBER = "number"
    TIME = "time"


_LINK = re.compile(r"(?i)(https?://|www\.|\b[a-z0-9-]+\.(cn|com|net|org|top|xyz|cc|io)\b)")
_PHONE_LIKE = re.compile(r"\d[\d\- ]{5,}\d")  # seven digits or more in a row: a phone number to a reviewer
_TIME = re.compile(r"^\d{1,2}:\d{2}$|^\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class TemplateVariable:
    """One variable of an approved template: the provider's ``name``, the message ``value`` it carries
    (label, address, caller, time, date, type, acknowledged_by; alerting, never_called, link for a
    summary), what kind the provider was told it is, and at most how many characters it may hold.
    ``shorten`` lets a text value too long for the variable end in "…" (an address, a household label)
    rather than refuse the message; other values are never cut."""

    name: str
    value: str
    kind: VariableKind = VariableKind.TEXT
    max_chars: int = 35
    shorten: bool = False

    def fit(self, raw: str) -> str:
        text = raw.strip()
        if not text:
            raise TemplateMismatch(f"variable {self.name} ({self.value}) is empty; providers refuse empty variables")
        return _FITTERS[self.kind](self, text)

    def _fit_text(self, text: str) -> str:
        if _LINK.search(text):
            raise TemplateMismatch(f"variable {self.name} ({self.value}) holds a link, which providers forbid")
        if _PHONE_LIKE.search(text):
            raise TemplateMismatch(f"variable {self.name} ({self.value}) holds a phone number; declare it as phone")
        if len(text) <= self.max_chars:
            return text
        if not self.shorten or self.max_chars < 2:
            raise TemplateMismatch(f"variable {self.name} ({self.value}) has {len(text)} characters, "
                                   f"more than the {self.max_chars} the template allows")
        return text[: self.max_chars - 1] + ELLIPSIS

    def _fit_phone(self, text: str) -> str:
        digits = re.sub(r"[\s\-]", "", text)
        if digits.startswith("+86"):
            digits = digits[3:]
        if not digits.isdigit() or not 5 <= len(digits) <= min(self.max_chars, 11):
            raise TemplateMismatch(f"variable {self.name} ({self.value}) must be a mainland phone number of "
                                   f"5 to 11 digits, not {len(digits)} characters")
        return digits

    def _fit_number(self, text: str) -> str:
        if not text.isdigit() or len(text) > self.max_chars:
            raise TemplateMismatch(f"variable {self.name} ({self.value}) must be at most {self.max_chars} digits")
        return text

    def _fit_time(self, text: str) -> str:
        if not _TIME.match(text):
            raise TemplateMismatch(f"variable {self.name} ({self.value}) must be a time (HH:MM) or date (MM-DD)")
        return text


_FITTERS = {
    VariableKind.TEXT: TemplateVariable._fit_text,
    VariableKind.PHONE: TemplateVariable._fit_phone,
    VariableKind.NUMBER: TemplateVariable._fit_number,
    VariableKind.TIME: TemplateVariable._fit_time,
}


@dataclass(frozen=True, slots=True)
class FittedSms:
    """A message ready for a template provider: what to send and the text the recipient will read."""

    code: str
    signature: str
    params: tuple[tuple[str, str], ...]
    text: str  # 【signature】 and the rendered template, as the handset shows it

    @property
    def segments(self) -> int:
        return segments(self.text)

    def params_dict(self) -> dict[str, str]:
        return dict(self.params)

    def param_values(self) -> list[str]:
        """The values in template order (Tencent's TemplateParamSet)."""
        return [value for _, value in self.params]


@dataclass(frozen=True, slots=True)
class ProviderTemplate:
    """One approved template: its code at the provider, its text in the provider's syntax, its variables."""

    code: str
    text: str
    variables: tuple[TemplateVariable, ...]
    syntax: TemplateSyntax = TemplateSyntax.NAMED

    def __post_init__(self) -> None:
        in_text = _PLACEHOLDER[self.syntax].findall(self.text)
        declared = [v.name for v in self.variables]
        if sorted(set(in_text)) != sorted(declared) or len(in_text) != len(set(in_text)):
            raise TemplateMismatch(f"template {self.code}: its text has variables {in_text}, each once, "
                                   f"but {declared} are declared")

    def render(self, params: Mapping[str, str]) -> str:
        return _PLACEHOLDER[self.syntax].sub(lambda m: params[m.group(1)], self.text)


@dataclass(frozen=True, slots=True)
class TemplateBook:
    """One provider's approved signature and templates, by message kind."""

    provider: str
    signature: str
    templates: Mapping[LegPurpose, ProviderTemplate]
    max_segments: int = 3

    def __post_init__(self) -> None:
        if not self.signature or "【" in self.signature or "】" in self.signature:
            raise TemplateMismatch(f"{self.provider}: the signature is the approved name without 【】, "
                                   f"not {self.signature!r}")

    def kinds(self) -> frozenset[LegPurpose]:
        return frozenset(self.templates)

    def fit(self, purpose: LegPurpose, values: Mapping[str, str]) -> FittedSms:
        """The message for ``purpose`` with ``values``, or TemplateMismatch saying why it cannot be sent."""
        template = self.templates.get(purpose)
        if template is None:
            raise TemplateMismatch(f"{self.provider} has no approved template for {purpose.value} messages")
        params = tuple((v.name, v.fit(_value(values, v, template))) for v in template.variables)
        text = f"【{self.signature}】{template.render(dict(params))}"
        if segments(text) > self.max_segments:
            raise TemplateMismatch(f"{self.provider} template {template.code}: the text needs {segments(text)} "
                                   f"SMS parts ({len(text)} characters, {SINGLE_SEGMENT} fit one), more than "
                                   f"{self.max_segments}")
        return FittedSms(template.code, self.signature, params, text)


def _value(values: Mapping[str, str], variable: TemplateVariable, template: ProviderTemplate) -> str:
    try:
        return values[variable.value]
    except KeyError:
        raise TemplateMismatch(f"template {template.code} variable {variable.name} carries {variable.value!r}, "
                               "which this message does not have") from None

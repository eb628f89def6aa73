"""``config/sms.yaml``: each template provider's approved signature and templates, read with file:line errors.

Every book is checked at load by fitting long sample values (a 39-character address, a landline caller),
so a template whose variables cannot carry what the engine sends, or whose text would exceed the
segments allowed, stops the start rather than the first emergency. Provider-neutral: a provider package
asks for its book by name (``books[name]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from callcenter.domain.sms_templates import (
    ProviderTemplate,
    TemplateBook,
    TemplateMismatch,
    TemplateSyntax,
    TemplateVariable,
    VariableKind,
)
from callcenter.domain.types import LegPurpose
from callcenter.yamlfile import KeyPath, LocatedYaml, load_located

__all__ = ["SAMPLE_VALUES", "load_template_books"]

E = TypeVar("E", TemplateSyntax, VariableKind, LegPurpose)

# Long but real values, as the engine sends them (callcenter.domain.messages values, plus a summary's).
SAMPLE_VALUES: Mapping[str, str] = {
    "label": "三组 欧阳明珠家", "address": "湖北省宜昌市夷陵区小溪塔街道张家口村三组一百二十号附二号",
    "caller": "0717-6123456", "time": "23:59", "date": "12-31", "type": "急病/受伤", "acknowledged_by": "张三、李四",
    "alerting": "1000", "never_called": "1000", "link": "https://console.example.cn/",
}
_VARIABLE_KEYS = {"value", "kind", "max_chars", "shorten"}
_TEMPLATE_KEYS = {"code", "text", "variables"}
_BOOK_KEYS = {"signature", "syntax", "templates"}


def load_template_books(file: Path) -> dict[str, TemplateBook]:
    """The books in ``file`` by provider name."""
    located = load_located(file)
    data = located.data
    if not isinstance(data, Mapping) or not isinstance(data.get("providers", {}), Mapping):
        raise located.error((), "must be a mapping with max_segments and providers: {name: book}")
    _only(located, (), data, {"max_segments", "providers"})
    segments = data.get("max_segments", 3)
    if isinstance(segments, bool) or not isinstance(segments, int) or segments < 1:
        raise located.error(("max_segments",), "max_segments must be a whole number ≥ 1")
    return {name: _book(located, ("providers", name), name, section, segments)
            for name, section in data.get("providers", {}).items()}


def _book(located: LocatedYaml, where: KeyPath, name: str, section: Any, segments: int) -> TemplateBook:
    _mapping(located, where, section, _BOOK_KEYS)
    syntax = _enum(located, (*where, "syntax"), TemplateSyntax, section.get("syntax", "named"))
    templates = {}
    for kind, entry in _mapping(located, (*where, "templates"), section.get("templates"), None).items():
        purpose = _enum(located, (*where, "templates", kind), LegPurpose, kind)
        templates[purpose] = _template(located, (*where, "templates", kind), entry, syntax)
    try:
        book = TemplateBook(name, str(section.get("signature", "")), templates, segments)
    except TemplateMismatch as exc:
        raise located.error((*where, "signature"), str(exc)) from None
    for purpose in templates:
        try:
            book.fit(purpose, SAMPLE_VALUES)
        except TemplateMismatch as exc:
            raise located.error((*where, "templates", purpose.value), f"cannot carry a long message: {exc}") from None
    return book


def _template(located: LocatedYaml, where: KeyPath, entry: Any, syntax: TemplateSyntax) -> ProviderTemplate:
    _mapping(located, where, entry, _TEMPLATE_KEYS)
    for key in ("code", "text"):
        if not isinstance(entry.get(key), str | int) or not str(entry[key]).strip():
            raise located.error((*where, key), f"{key} must be a non-empty text")
    variables = tuple(_variable(located, (*where, "variables", str(var)), str(var), spec)
                      for var, spec in _mapping(located, (*where, "variables"), entry.get("variables", {}),
                                                None).items())
    try:
        return ProviderTemplate(str(entry["code"]), entry["text"], variables, syntax)
    except TemplateMismatch as exc:
        raise located.error((*where, "text"), str(exc)) from None


def _variable(located: LocatedYaml, where: KeyPath, name: str, spec: Any) -> TemplateVariable:
    _mapping(located, where, spec, _VARIABLE_KEYS)
    value = spec.get("value")
    if value not in SAMPLE_VALUES:
        raise located.error((*where, "value"), f"value must be one of {', '.join(SAMPLE_VALUES)}, not {value!r}")
    limit = spec.get("max_chars", 35)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise located.error((*where, "max_chars"), "max_chars must be a whole number ≥ 1")
    kind = _enum(located, (*where, "kind"), VariableKind, spec.get("kind", "text"))
    return TemplateVariable(name, value, kind, limit, bool(spec.get("shorten", False)))


def _mapping(located: LocatedYaml, where: KeyPath, value: Any, allowed: set[str] | None) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping) or not value:
        raise located.error(where, f"{'.'.join(map(str, where)) or 'file'} must be a non-empty mapping")
    if allowed is not None:
        _only(located, where, value, allowed)
    return value


def _only(located: LocatedYaml, where: KeyPath, value: Mapping[Any, Any], allowed: set[str]) -> None:
    for key in value:
        if key not in allowed:
            raise located.error((*where, key), f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")


def _enum(located: LocatedYaml, where: KeyPath, kind: type[E], value: Any) -> E:
    try:
        return kind(value)
    except ValueError:
        raise located.error(where, f"{value!r} is not one of {', '.join(k.value for k in kind)}") from None

"""Load the escalation policy and message templates from ``config/`` with file:line errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callcenter.domain.messages import MessageTemplates, TemplateError, check_templates
from callcenter.domain.policy import EscalationPolicy, PolicyError, policy_from_mapping
from callcenter.yamlfile import LocatedYaml, load_located, parse_located

__all__ = ["load_policy", "load_templates"]

_TEMPLATE_KEYS = {"alert_sms", "help_coming_sms", "cancellation_sms", "mass_event_summary_sms", "unknown_caller_label",
                  "max_segments", "timezone"}


def load_policy(file: Path) -> EscalationPolicy:
    return parse_located(file, policy_from_mapping, PolicyError, lambda e: getattr(e, "path", ()))


def load_templates(file: Path) -> MessageTemplates:
    located = load_located(file)
    data = located.data
    if not isinstance(data, Mapping):
        raise located.error((), "must be a mapping of template names to texts")
    for key in data:
        if key not in _TEMPLATE_KEYS:
            raise located.error((key,), f"unknown key {key!r} (allowed: {', '.join(sorted(_TEMPLATE_KEYS))})")
    for key in ("alert_sms", "help_coming_sms", "cancellation_sms"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise located.error((key,), f"{key} must be a non-empty text")
    _check_settings(located, data)
    templates = MessageTemplates(**data)
    try:
        check_templates(templates)
    except TemplateError as exc:
        name = str(exc).split(":", 1)[0]
        raise located.error((name,), str(exc)) from None
    return templates


def _check_settings(located: LocatedYaml, data: Mapping[str, Any]) -> None:
    """The optional keys: a whole number of parts, a known time zone, a non-empty label."""
    segments = data.get("max_segments", 1)
    if isinstance(segments, bool) or not isinstance(segments, int) or segments < 1:
        raise located.error(("max_segments",), "max_segments must be a whole number ≥ 1")
    label = data.get("unknown_caller_label", "-")
    if not isinstance(label, str) or not label.strip():
        raise located.error(("unknown_caller_label",), "unknown_caller_label must be a non-empty text")
    zone = data.get("timezone", "UTC")
    try:
        ZoneInfo(zone)
    except (TypeError, ValueError, ZoneInfoNotFoundError):
        raise located.error(("timezone",), f"unknown time zone {zone!r} (e.g. Asia/Shanghai)") from None

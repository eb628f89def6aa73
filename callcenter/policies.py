"""Load the escalation policy and message templates from ``config/`` with file:line errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from callcenter.domain.messages import MessageTemplates, TemplateError, check_templates
from callcenter.domain.policy import EscalationPolicy, PolicyError, policy_from_mapping
from callcenter.yamlfile import ConfigFileError, load_located, parse_located

_TEMPLATE_KEYS = {"alert_sms", "help_coming_sms", "cancellation_sms", "unknown_caller_label",
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
    templates = MessageTemplates(**_typed(data))
    try:
        check_templates(templates)
    except (TemplateError, KeyError) as exc:
        name = str(exc).split(":", 1)[0]
        raise located.error((name,), str(exc)) from None
    return templates


def _typed(data: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(data)
    if "max_segments" in out and not isinstance(out["max_segments"], int):
        raise ConfigFileError(Path("messages"), None, "max_segments must be a whole number")
    return out

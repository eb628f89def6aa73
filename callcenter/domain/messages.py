"""Message texts: Mandarin templates from config, rendered to fit SMS segments.

Chinese text goes out as UCS-2: 70 characters fit one SMS; a longer text goes out as a
concatenated SMS of 67-character parts, which every handset joins back into one message. A
neighbour needs the whole address more than a single part, so texts are never cut to fit one
part; only a text that would need more than ``max_segments`` parts has its address and then its
household label shortened (never the caller number or the reply instruction).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

__all__ = [
    "ELLIPSIS", "MULTI_SEGMENT", "SINGLE_SEGMENT", "MessageFacts", "MessageTemplates", "TemplateError",
    "check_templates", "message_values", "render", "render_summary", "segments", "summary_values",
]

SINGLE_SEGMENT = 70
MULTI_SEGMENT = 67
ELLIPSIS = "…"


class TemplateError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class MessageTemplates:
    alert_sms: str
    help_coming_sms: str
    cancellation_sms: str
    # Placeholders: {alerting} incidents alerting that list the recipient, {never_called} of them with
    # no neighbour's phone rung yet, {link} the console.
    mass_event_summary_sms: str = (
        "【995】大范围求助：您辖区有{alerting}起求助正在告警，其中{never_called}起尚无邻居接通电话。"
        "各户已按预案通知，您无需逐户回电。详情：{link}")
    unknown_caller_label: str = "未登记号码"
    max_segments: int = 3
    timezone: str = "Asia/Shanghai"

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class MessageFacts:
    label: str
    address: str
    caller: str
    pressed_at: datetime
    emergency_type: str
    acknowledged_by: str = ""


def segments(text: str) -> int:
    """SMS parts a UCS-2 text needs."""
    if len(text) <= SINGLE_SEGMENT:
        return 1
    return -(-len(text) // MULTI_SEGMENT)


def render(template: str, facts: MessageFacts, templates: MessageTemplates) -> str:
    """Render ``template``; shorten address, then label, only beyond ``max_segments`` parts."""
    values = message_values(facts, templates)
    text = _format(template, values)
    for field in ("address", "label"):
        while segments(text) > templates.max_segments and len(values[field]) > 4:
            values[field] = values[field][: len(values[field]) - 2] + ELLIPSIS
            values[field] = values[field].replace(ELLIPSIS * 2, ELLIPSIS)
            text = _format(template, values)
    if segments(text) > templates.max_segments:
        raise TemplateError(f"message needs {segments(text)} SMS parts, more than {templates.max_segments}")
    return text


def message_values(facts: MessageFacts, templates: MessageTemplates) -> dict[str, str]:
    """The named values a message about ``facts`` is rendered from (also what template providers fit)."""
    local = facts.pressed_at.astimezone(templates.zone())
    return {
        "label": facts.label,
        "address": facts.address,
        "caller": facts.caller,
        "time": local.strftime("%H:%M"),
        "date": local.strftime("%m-%d"),
        "type": facts.emergency_type,
        "acknowledged_by": facts.acknowledged_by,
    }


def _format(template: str, values: dict[str, str]) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise TemplateError(f"bad placeholder in template {template!r}: {exc}") from None


def summary_values(alerting: int, never_called: int, link: str) -> dict[str, str]:
    return {"alerting": str(alerting), "never_called": str(never_called), "link": link}


def render_summary(templates: MessageTemplates, alerting: int, never_called: int, link: str) -> str:
    """The mass-event summary: counts and a link, nothing to shorten."""
    try:
        text = templates.mass_event_summary_sms.format(**summary_values(alerting, never_called, link))
    except (KeyError, IndexError, ValueError) as exc:
        raise TemplateError(f"bad placeholder in template {templates.mass_event_summary_sms!r}: {exc}") from None
    if segments(text) > templates.max_segments:
        raise TemplateError(f"message needs {segments(text)} SMS parts, more than {templates.max_segments}")
    return text


def check_templates(templates: MessageTemplates) -> None:
    """Render every template with long sample facts so a bad template fails at start-up."""
    sample = MessageFacts(
        label="三组 欧阳明珠家", address="湖北省宜昌市夷陵区小溪塔街道张家口村三组一百二十号附二号",
        caller="0717-6123456", pressed_at=datetime(2026, 1, 1, 12, 0, tzinfo=templates.zone()),
        emergency_type="急病/受伤", acknowledged_by="张三、李四",
    )
    for name in ("alert_sms", "help_coming_sms", "cancellation_sms"):
        try:
            render(getattr(templates, name), sample, templates)
        except TemplateError as exc:
            raise TemplateError(f"{name}: {exc}") from None
    try:
        render_summary(templates, 1000, 1000, "https://console.example.cn/")
    except TemplateError as exc:
        raise TemplateError(f"mass_event_summary_sms: {exc}") from None

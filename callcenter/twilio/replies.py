"""SMS replies from responders: what they mean, which incident they answer, what we text back.

Pure: no I/O. Only an exact "1", "到", "收到" acknowledges and only "2" declines (after removing
spaces and punctuation, full-width digits counted): "不到", "12" or "到了吗" must not count as
"I'm coming", so anything else is a note for the operators.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

ACKNOWLEDGING = frozenset({"1", "到", "收到"})
DECLINING = frozenset({"2"})


class ReplyKind(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    DECLINE = "decline"
    NOTE = "note"


def classify(body: str) -> ReplyKind:
    word = _bare(body)
    if word in ACKNOWLEDGING:
        return ReplyKind.ACKNOWLEDGE
    if word in DECLINING:
        return ReplyKind.DECLINE
    return ReplyKind.NOTE


def _bare(body: str) -> str:
    text = unicodedata.normalize("NFKC", body)
    return "".join(ch for ch in text if not (ch.isspace() or unicodedata.category(ch).startswith("P")))


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """An open incident that alerted this responder, with the alert leg a reply applies to."""

    incident_id: str
    label: str
    opened_at: datetime
    recipient_name: str
    recipient_key: str
    sms_leg_id: str | None  # the newest SMS alert leg a reply can still move (submitted or delivered)


def newest(alerts: Sequence[OpenAlert]) -> OpenAlert:
    return max(alerts, key=lambda a: (a.opened_at, a.incident_id))


_CONFIRMATIONS = {
    ReplyKind.ACKNOWLEDGE: "【995】已确认您将前往：{label}（{time}求助）。请尽快到场。",
    ReplyKind.DECLINE: "【995】已记录您无法前往：{label}（{time}求助），我们会通知其他人。",
    ReplyKind.NOTE: "【995】您的短信已转给值班员：{label}（{time}求助）。确认前往请回复1。",
}
NO_OPEN_INCIDENT = "【995】您当前没有需要回复的求助。如有紧急情况请按紧急键，或拨打110、119、120。"


def confirmation(kind: ReplyKind, chosen: OpenAlert, open_count: int, zone: ZoneInfo) -> str:
    """The text back; with several open incidents it names which one the reply went to."""
    time = chosen.opened_at.astimezone(zone).strftime("%H:%M")
    text = _CONFIRMATIONS[kind].format(label=chosen.label, time=time)
    if open_count > 1:
        text += f"您有{open_count}起未结束的求助，本回复用于最新一起。"
    return text

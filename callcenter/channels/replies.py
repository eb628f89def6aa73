"""SMS replies from responders: what they mean, which incident they answer, what we text back.

Only an exact "1", "到", "收到" acknowledges and only "2" declines (after removing spaces and
punctuation, full-width digits counted): "不到", "12" or "到了吗" must not count as "I'm coming",
so anything else is a note for the operators.

The rules are pure; ``SmsReplies`` applies them to the engine for any SMS provider, whose webhook
passes the sender and the text in and sends the returned text back (Twilio's as TwiML). No I/O here.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from callcenter.domain.incident import Incident, IncidentError
from callcenter.domain.types import Actor, LegStatus
from contacts.phones import PhonePolicy, mask_phone, try_normalise

__all__ = [
    "ACKNOWLEDGING",
    "DECLINING",
    "NO_OPEN_INCIDENT",
    "OpenAlert",
    "OpenAlerts",
    "ReplyCommands",
    "ReplyKind",
    "SmsReplies",
    "classify",
    "confirmation",
    "newest",
]

log = logging.getLogger(__name__)

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


class ReplyCommands(Protocol):
    """The engine commands a reply uses (IncidentEngine has them all)."""

    def leg_outcome(self, leg_id: str, status: LegStatus, detail: str = "", provider_ref: str = "") -> None: ...

    def add_note(self, incident_id: str, text: str, actor: Actor) -> Incident: ...

    def acknowledge_on_behalf(self, incident_id: str, recipient_key: str, actor: Actor) -> Incident: ...


class OpenAlerts(Protocol):
    """The open incidents that alerted a number (callcenter.channels.stored.StoredAlerts)."""

    def open_alerts_for(self, phone: str) -> list[OpenAlert]: ...


@dataclass
class SmsReplies:
    """A text to our number from ``sender``: acknowledge, decline or note it; returns the text back.

    ``provider`` names the SMS path in the leg's detail the operators see ("twilio reply 1")."""

    incidents: ReplyCommands
    alerts: OpenAlerts
    zone: ZoneInfo
    phone_policy: PhonePolicy
    provider: str

    def answer(self, sender: str, body: str) -> str:
        phone = try_normalise(sender, self.phone_policy) or sender
        alerts = self.alerts.open_alerts_for(phone)
        if not alerts:
            log.warning("SMS from %s answers no open incident (%d characters, not logged)", mask_phone(phone),
                        len(body))
            return NO_OPEN_INCIDENT
        chosen, kind = newest(alerts), classify(body)
        _REPLY_ACTIONS[kind](self, chosen, body)
        return confirmation(kind, chosen, len(alerts), self.zone)

    def _acknowledge(self, alert: OpenAlert, body: str) -> None:
        if alert.sms_leg_id is not None:
            self._outcome(alert.sms_leg_id, LegStatus.ACKNOWLEDGED, body)
        else:  # only a call reached them, or the text failed: the reply still counts
            self.incidents.acknowledge_on_behalf(alert.incident_id, alert.recipient_key,
                                                 Actor("sms-reply", alert.recipient_name))

    def _decline(self, alert: OpenAlert, body: str) -> None:
        if alert.sms_leg_id is not None:
            self._outcome(alert.sms_leg_id, LegStatus.DECLINED, body)
        else:
            self._note(alert, body)

    def _note(self, alert: OpenAlert, body: str) -> None:
        self.incidents.add_note(alert.incident_id, f"短信回复（{alert.recipient_name}）：{body}",
                                Actor("responder", alert.recipient_name))

    def _outcome(self, leg_id: str, status: LegStatus, body: str) -> None:
        try:
            self.incidents.leg_outcome(leg_id, status, f"{self.provider} reply {body.strip()}")
        except (IncidentError, LookupError) as exc:  # a reply for a leg we do not know changes nothing
            log.warning("SMS reply for leg %s not recorded: %s", leg_id, exc)


_REPLY_ACTIONS = {
    ReplyKind.ACKNOWLEDGE: SmsReplies._acknowledge,
    ReplyKind.DECLINE: SmsReplies._decline,
    ReplyKind.NOTE: SmsReplies._note,
}

"""Value types shared by incidents, alert legs and the escalation policy."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "CHANNEL_OUTCOMES", "EMERGENCY_TYPE_LABELS", "FINAL_LEG_STATUSES", "LEG_PROGRESS", "SYSTEM", "Actor",
    "CallerId", "CallerTrust", "Channel", "EmergencyType", "IncidentStatus", "LegPurpose", "LegStatus", "Recipient",
]


class IncidentStatus(StrEnum):
    ALERTING = "alerting"
    ACKNOWLEDGED = "acknowledged"  # quorum met: help is on its way
    RESOLVED = "resolved"
    FALSE_ALARM = "false_alarm"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        return self in (IncidentStatus.ALERTING, IncidentStatus.ACKNOWLEDGED)


class EmergencyType(StrEnum):
    UNKNOWN = "unknown"
    FIRE = "fire"
    THEFT = "theft"  # theft or intrusion
    MEDICAL = "medical"  # illness or injury
    OTHER = "other"


EMERGENCY_TYPE_LABELS: dict[EmergencyType, str] = {
    EmergencyType.UNKNOWN: "类型未知",
    EmergencyType.FIRE: "火灾",
    EmergencyType.THEFT: "盗窃/闯入",
    EmergencyType.MEDICAL: "急病/受伤",
    EmergencyType.OTHER: "其他",
}


class CallerTrust(StrEnum):
    """How far the caller's number of a key press can be believed (docs/security.md)."""

    TRUNK = "trunk"  # the carrier or village PBX, by address: its asserted identity
    REGISTERED = "registered"  # a digest-authenticated household phone, or its registered contact
    ATTESTED = "attested"  # STIR/SHAKEN full attestation (Twilio: StirVerstat TN-Validation-Passed-A)
    LOCAL = "local"  # pressed on this service's own side: the CLI, a drill, the simulated phones
    UNVERIFIED = "unverified"  # anything else: the number may be forged

    @property
    def is_verified(self) -> bool:
        return self is not CallerTrust.UNVERIFIED


@dataclass(frozen=True, slots=True)
class CallerId:
    """Who pressed, as the channel could establish it: the number, how far it can be believed, and the
    network source it came from ("" when the channel has none to give, e.g. a carrier's webhook)."""

    number: str
    trust: CallerTrust
    source: str = ""


class Channel(StrEnum):
    CALL = "call"
    SMS = "sms"


class LegPurpose(StrEnum):
    ALERT = "alert"  # who needs help, where; asks for 1 = coming
    HELP_COMING = "help_coming"  # quorum met: others may stand down
    CANCELLATION = "cancellation"  # the household or an operator called it off
    SUMMARY = "summary"  # a mass event: one SMS to an upper level for all its incidents (service/mass_event.py)


class LegStatus(StrEnum):
    PENDING = "pending"  # planned and stored, not yet handed to a channel
    QUEUED = "queued"  # handed to a call channel that waits for a free trunk channel: not ringing yet
    DIALING = "dialing"  # the call is being placed (handed to a channel that dials at once, or dialled)
    RINGING = "ringing"
    ANSWERED = "answered"  # picked up, no key yet
    ACKNOWLEDGED = "acknowledged"  # pressed 1 (or replied 1)
    DECLINED = "declined"  # pressed 2
    ANSWERED_WITHOUT_KEY = "answered_without_key"  # voicemail or silence: never counts as reached
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    SUBMITTED = "submitted"  # SMS accepted by the provider
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    CANCELLED = "cancelled"  # dropped before it was placed

    @property
    def is_final(self) -> bool:
        return self in FINAL_LEG_STATUSES

    @property
    def was_placed(self) -> bool:
        """The recipient's phone was (or is being) reached: a call still waiting for a trunk channel was not."""
        return self not in (LegStatus.PENDING, LegStatus.QUEUED, LegStatus.CANCELLED)

    @property
    def is_waiting(self) -> bool:
        """Not placed yet, and may still be (stood down by a quorum or a close without ringing anyone)."""
        return self in (LegStatus.PENDING, LegStatus.QUEUED)


FINAL_LEG_STATUSES = frozenset({
    LegStatus.ACKNOWLEDGED, LegStatus.DECLINED, LegStatus.ANSWERED_WITHOUT_KEY, LegStatus.BUSY,
    LegStatus.NO_ANSWER, LegStatus.FAILED, LegStatus.DELIVERED, LegStatus.UNDELIVERED, LegStatus.CANCELLED,
})

# What each channel may report, so a call never gets "delivered" nor an SMS "busy".
CHANNEL_OUTCOMES: dict[Channel, frozenset[LegStatus]] = {
    Channel.CALL: frozenset({
        LegStatus.QUEUED, LegStatus.DIALING, LegStatus.RINGING, LegStatus.ANSWERED, LegStatus.ACKNOWLEDGED,
        LegStatus.DECLINED,
        LegStatus.ANSWERED_WITHOUT_KEY, LegStatus.BUSY, LegStatus.NO_ANSWER, LegStatus.FAILED,
    }),
    Channel.SMS: frozenset({
        LegStatus.SUBMITTED, LegStatus.DELIVERED, LegStatus.UNDELIVERED, LegStatus.FAILED,
        LegStatus.ACKNOWLEDGED, LegStatus.DECLINED,
    }),
}

# How far along a leg is; an outcome that would move it backwards is stale and ignored.
LEG_PROGRESS: dict[LegStatus, int] = {
    LegStatus.PENDING: 0, LegStatus.QUEUED: 1, LegStatus.DIALING: 2, LegStatus.SUBMITTED: 2, LegStatus.RINGING: 3,
    LegStatus.ANSWERED: 4,
}


@dataclass(frozen=True, slots=True)
class Recipient:
    """Someone an incident may alert. ``key`` identifies them within the incident (their phone)."""

    name: str
    phone: str
    role: str
    responder_id: int | None = None

    @property
    def key(self) -> str:
        return self.phone


@dataclass(frozen=True, slots=True)
class Actor:
    """Who or what caused a change, for the timeline: household, responder, operator, system."""

    kind: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}" if self.name else self.kind


SYSTEM = Actor("system")

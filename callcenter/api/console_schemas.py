"""Schemas of the console API (incidents, live events, accounts), separate from the table models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from callcenter.api.schemas import HouseholdDetail
from callcenter.domain.types import EmergencyType

__all__ = [
    "AcknowledgeRequest", "CallBackResult", "DispatchRequest", "IncidentDetail", "IncidentPage", "IncidentSummary",
    "LegPublic", "NoteRequest", "ResolveRequest", "ResponderState", "SourceState", "TimelineEvent", "TypeRequest",
    "VoiceMessage",
]


class IncidentSummary(BaseModel):
    id: str
    status: str
    emergency_type: str
    emergency_type_label: str
    label: str
    address: str
    caller: str
    caller_display: str
    household_id: int | None
    grid_id: int | None
    grid_name: str | None
    village_name: str | None
    level: int
    level_name: str
    levels_total: int
    urgent: bool
    unknown_caller: bool
    silent: bool
    caller_trust: str = Field(description="trunk, registered, attested, local or unverified (docs/security.md)")
    held: bool = Field(description="unverified caller, nobody alerted yet: an operator may release it (level -1)")
    attention: bool = Field(description="urgent, unknown caller, silent or held: highlighted with a sound")
    press_count: int
    acks: int
    opened_at: datetime
    next_escalation_at: datetime | None
    closed_at: datetime | None


class IncidentPage(BaseModel):
    items: list[IncidentSummary]
    total: int
    limit: int
    offset: int


class LegPublic(BaseModel):
    id: str
    recipient: str
    role: str
    role_label: str
    phone_display: str
    channel: str
    purpose: str
    attempt: int
    level: int
    status: str
    updated_at: datetime
    detail: str


class ResponderState(BaseModel):
    """A responder of the incident's plan with the live state of their legs."""

    key: str
    name: str
    role: str
    role_label: str
    phone_display: str
    level: int
    acknowledged: bool
    legs: list[LegPublic]


class TimelineEvent(BaseModel):
    at: datetime
    kind: str
    actor: str
    data: dict[str, Any]


class VoiceMessage(BaseModel):
    index: int
    at: datetime
    url: str


class IncidentDetail(BaseModel):
    incident: IncidentSummary
    household: HouseholdDetail | None
    responders: list[ResponderState]
    legs: list[LegPublic]
    timeline: list[TimelineEvent]
    voice_messages: list[VoiceMessage]


class AcknowledgeRequest(BaseModel):
    recipient_key: str = Field(min_length=1, max_length=64, description="the responder's phone, as in `responders`")


class TypeRequest(BaseModel):
    emergency_type: EmergencyType


class NoteRequest(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class DispatchRequest(BaseModel):
    agency: Literal["110", "119", "120"]
    at: datetime | None = Field(None, description="when it was handed over; now when omitted")
    reference: str = Field("", max_length=100, description="the agency's case or call reference")


class ResolveRequest(BaseModel):
    note: str = Field("", max_length=2000)


class CallBackResult(BaseModel):
    reference: str
    operator_phone: str
    household_line: str


class LiveEvent(BaseModel):
    incident_id: str
    kind: str
    at: datetime
    leg: str | None = Field(None, description="leg_status events: the leg that moved")
    status: str | None = Field(None, description="leg_status events: its new status")


class SourceState(BaseModel):
    """A network source that made unverified presses (callcenter/domain/sources.py)."""

    source: str
    banned: bool
    banned_at: datetime | None = None
    banned_until: datetime | None = None
    presses_while_banned: int = Field(description="presses since the ban: each opened or joined a held incident")
    recent_presses: int = Field(description="unverified presses counted in the current window")
    lines: list[str] = Field(description="caller numbers it claimed, newest last")
    incidents: list[str] = Field(description="held incidents it opened, newest last")
    last_at: datetime | None = None

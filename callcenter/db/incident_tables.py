"""Incident tables: incidents, their alert legs, the timeline, and the scheduler lease.

An alert leg's primary key is its idempotency key, so the same attempt can never be stored (or
placed) twice. ``claimed_by``/``claimed_at`` mark a leg handed to a channel by one instance.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from callcenter.db.types import UtcDateTime

__all__ = ["AlertLegRow", "IncidentEventRow", "IncidentRow", "LeaseRow", "PressLedgerRow"]


def _ts(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UtcDateTime(), nullable=nullable, index=index))


class IncidentRow(SQLModel, table=True):
    __tablename__ = "incident"
    __table_args__ = (Index("ix_incident_status_escalation", "status", "next_escalation_at"),)
    id: str = Field(primary_key=True, max_length=40)
    caller: str = Field(max_length=64)
    household_id: int | None = Field(default=None, index=True)
    label: str = Field(max_length=128)
    address: str = Field(max_length=256)
    status: str = Field(max_length=16)
    emergency_type: str = Field(max_length=16)
    press_count: int
    level: int  # -1: held, its caller unverified and nobody alerted yet (callcenter.domain.incident.HELD_LEVEL)
    urgent: bool
    # callcenter.domain.types.CallerTrust; rows stored before it was kept were alerted at once: "local"
    caller_trust: str = Field(default="local", max_length=16, sa_column_kwargs={"server_default": "local"})
    escalation_token: int
    opened_at: datetime = _ts(index=True)
    last_press_at: datetime = _ts()
    next_escalation_at: datetime | None = _ts(nullable=True)
    closed_at: datetime | None = _ts(nullable=True)
    updated_at: datetime = _ts()
    # "h:<household>" or "c:<caller>" while the incident takes repeated presses; unique, so two
    # simultaneous presses of one household can never open two incidents.
    open_key: str | None = Field(default=None, max_length=80, unique=True)
    plan: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    acks: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    version: int = 0


class AlertLegRow(SQLModel, table=True):
    __tablename__ = "alert_leg"
    __table_args__ = (Index("ix_alert_leg_status_due", "status", "due_at"),)
    id: str = Field(primary_key=True, max_length=200)
    incident_id: str = Field(foreign_key="incident.id", index=True, max_length=40, ondelete="CASCADE")
    recipient_name: str = Field(max_length=64)
    recipient_phone: str = Field(max_length=32)
    recipient_role: str = Field(max_length=32)
    responder_id: int | None = None
    channel: str = Field(max_length=8)
    purpose: str = Field(max_length=16)
    attempt: int
    level: int
    status: str = Field(max_length=24)
    due_at: datetime = _ts()
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    provider: str = Field(default="", max_length=16)
    provider_ref: str = Field(default="", max_length=128)
    detail: str = Field(default="", max_length=500)
    interrupted: bool = False  # closed because its instance died; the next attempt is not a redial
    claimed_by: str | None = Field(default=None, max_length=80, index=True)
    claimed_at: datetime | None = _ts(nullable=True)


class IncidentEventRow(SQLModel, table=True):
    __tablename__ = "incident_event"
    id: int | None = Field(default=None, primary_key=True)
    incident_id: str = Field(foreign_key="incident.id", index=True, max_length=40, ondelete="CASCADE")
    at: datetime = _ts()
    kind: str = Field(max_length=32)
    actor: str = Field(max_length=128)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class LeaseRow(SQLModel, table=True):
    """A named lease (the scheduler's) or an instance heartbeat ("instance:<name>")."""

    __tablename__ = "lease"
    name: str = Field(primary_key=True, max_length=80)
    holder: str = Field(max_length=80)
    expires_at: datetime = _ts()
    # An instance heartbeat's alert-call socket (host:port): a survivor cancels the calls it left ringing.
    contact: str | None = Field(default=None, max_length=120)


class PressLedgerRow(SQLModel, table=True):
    """What the press limits remember across a restart (callcenter/service/press_ledger.py): a line's
    counted presses ("line"), a household's last closed incident ("close"), an unverified source's
    presses and ban ("source"). ``data`` is the entry as the ledger's codec writes it."""

    __tablename__ = "press_ledger"
    kind: str = Field(primary_key=True, max_length=8)
    key: str = Field(primary_key=True, max_length=80)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _ts(index=True)

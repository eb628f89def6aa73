"""Mapping between the incident aggregate and JSON-ready values (plan, acks, event data); pure, used by the
SQL repositories, the outage spool replay and the console."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from callcenter.domain.incident import Acknowledgement, AlertLeg, Incident, IncidentEvent
from callcenter.domain.plan import FanOutPlan, PlannedLevel, PlannedRecipient
from callcenter.domain.types import (
    CallerTrust,
    Channel,
    EmergencyType,
    IncidentStatus,
    LegPurpose,
    LegStatus,
    Recipient,
)

__all__ = [
    "acks_from_json", "acks_to_json", "event_values", "incident_from_row", "incident_values", "jsonable",
    "jsonable_dict", "leg_from_row", "leg_values", "plan_from_json", "plan_to_json", "recipient_from_json",
    "recipient_to_json",
]


def jsonable_dict(value: dict[str, Any]) -> dict[str, Any]:
    return {str(k): jsonable(v) for k, v in value.items()}


def jsonable(value: Any) -> Any:
    """Event data as JSON: times as ISO text, enums as their values."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


def recipient_to_json(r: Recipient) -> dict[str, Any]:
    return {"name": r.name, "phone": r.phone, "role": r.role, "responder_id": r.responder_id}


def recipient_from_json(d: dict[str, Any]) -> Recipient:
    return Recipient(d["name"], d["phone"], d["role"], d.get("responder_id"))


def plan_to_json(plan: FanOutPlan) -> dict[str, Any]:
    return {"levels": [
        {"index": lv.index, "name": lv.name, "operators": lv.operators, "urgent": lv.urgent,
         "recipients": [{**recipient_to_json(p.recipient), "channels": [str(c) for c in p.channels]}
                        for p in lv.recipients]}
        for lv in plan.levels
    ]}


def plan_from_json(d: dict[str, Any]) -> FanOutPlan:
    return FanOutPlan(tuple(
        PlannedLevel(lv["index"], lv["name"], tuple(
            PlannedRecipient(recipient_from_json(p), tuple(Channel(c) for c in p["channels"]))
            for p in lv["recipients"]), lv["operators"], lv["urgent"])
        for lv in d["levels"]
    ))


def acks_to_json(acks: list[Acknowledgement]) -> list[dict[str, Any]]:
    return [{**recipient_to_json(a.recipient), "at": a.at.isoformat(), "via": a.via} for a in acks]


def acks_from_json(items: list[dict[str, Any]]) -> list[Acknowledgement]:
    return [Acknowledgement(recipient_from_json(a), datetime.fromisoformat(a["at"]), a["via"]) for a in items]


def incident_values(i: Incident, now: datetime) -> dict[str, Any]:
    return {
        "id": i.id, "caller": i.caller, "household_id": i.household_id, "label": i.label,
        "address": i.address, "status": str(i.status), "emergency_type": str(i.emergency_type),
        "press_count": i.press_count, "level": i.level, "urgent": i.urgent, "caller_trust": str(i.caller_trust),
        "escalation_token": i.escalation_token, "opened_at": i.opened_at,
        "last_press_at": i.last_press_at or i.opened_at, "next_escalation_at": i.next_escalation_at,
        "closed_at": i.closed_at, "updated_at": now, "acks": acks_to_json(i.acks),
    }  # no plan: it is written once, with the incident (``SqlIncidentRepository.add``), and never changes


def incident_from_row(row: Any, legs: list[AlertLeg], plan: FanOutPlan) -> Incident:
    return Incident(
        id=row.id, caller=row.caller, household_id=row.household_id, label=row.label, address=row.address,
        opened_at=row.opened_at, plan=plan, caller_trust=CallerTrust(row.caller_trust),
        status=IncidentStatus(row.status),
        emergency_type=EmergencyType(row.emergency_type), press_count=row.press_count,
        last_press_at=row.last_press_at, level=row.level, urgent=row.urgent,
        escalation_token=row.escalation_token, next_escalation_at=row.next_escalation_at,
        closed_at=row.closed_at, acks=acks_from_json(row.acks), legs={leg.id: leg for leg in legs},
        version=row.version,
    )


def leg_values(leg: AlertLeg) -> dict[str, Any]:
    return {
        "id": leg.id, "incident_id": leg.incident_id, "recipient_name": leg.recipient.name,
        "recipient_phone": leg.recipient.phone, "recipient_role": leg.recipient.role,
        "responder_id": leg.recipient.responder_id, "channel": str(leg.channel), "purpose": str(leg.purpose),
        "attempt": leg.attempt, "level": leg.level, "status": str(leg.status), "due_at": leg.due_at,
        "created_at": leg.created_at, "updated_at": leg.updated_at or leg.created_at,
        "provider_ref": leg.provider_ref, "detail": leg.detail[:500], "interrupted": leg.interrupted,
    }


def leg_from_row(row: Any) -> AlertLeg:
    recipient = Recipient(row.recipient_name, row.recipient_phone, row.recipient_role, row.responder_id)
    return AlertLeg(
        incident_id=row.incident_id, recipient=recipient, channel=Channel(row.channel),
        purpose=LegPurpose(row.purpose), attempt=row.attempt, level=row.level, due_at=row.due_at,
        created_at=row.created_at, status=LegStatus(row.status), updated_at=row.updated_at,
        provider_ref=row.provider_ref, detail=row.detail, interrupted=row.interrupted,
    )


def event_values(incident_id: str, e: IncidentEvent) -> dict[str, Any]:
    return {"incident_id": incident_id, "at": e.at, "kind": e.kind, "actor": e.actor[:128],
            "data": jsonable_dict(e.data)}

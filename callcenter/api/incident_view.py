"""Incident rows → API schemas, and the live queue's order."""

from __future__ import annotations

from typing import Any

from callcenter.api.console_schemas import (
    IncidentSummary,
    LegPublic,
    ResponderState,
    TimelineEvent,
    VoiceMessage,
)
from callcenter.db.console_queries import IncidentListRow, IncidentRecord
from callcenter.domain.incident import HELD_LEVEL
from callcenter.domain.incident_codec import jsonable_dict
from callcenter.domain.types import EMERGENCY_TYPE_LABELS, EmergencyType
from callcenter.service.read_models import StoredEvent, StoredLeg
from contacts.model import ROLE_LABELS
from contacts.phones import display_phone

__all__ = [
    "HELD_LEVEL_NAME", "VOICE_EVENT", "leg", "level_names", "queue_order", "responders", "snapshot", "summary",
    "timeline", "voice_messages", "voice_path",
]

_ROLE_LABELS = {str(role): label for role, label in ROLE_LABELS.items()}
VOICE_EVENT = "voice_message"


def level_names(row: IncidentRecord) -> tuple[str, ...]:
    """The level names of a row that carries its plan's JSON."""
    return tuple(level["name"] for level in row.plan.get("levels", []))


HELD_LEVEL_NAME = "待核实：主叫号码未验证"  # level -1 (callcenter.domain.incident.HELD_LEVEL)


def summary(row: IncidentListRow, levels: tuple[str, ...]) -> IncidentSummary:
    held = row.level == HELD_LEVEL and row.status == "alerting"
    level_name = HELD_LEVEL_NAME if row.level == HELD_LEVEL else \
        levels[row.level] if 0 <= row.level < len(levels) else str(row.level)
    unknown = row.household_id is None
    silent = row.silent
    return IncidentSummary(
        id=row.id, status=row.status, emergency_type=row.emergency_type,
        emergency_type_label=EMERGENCY_TYPE_LABELS.get(EmergencyType(row.emergency_type), row.emergency_type),
        label=row.label, address=row.address, caller=row.caller, caller_display=display_phone(row.caller),
        household_id=row.household_id, grid_id=row.grid_id, grid_name=row.grid_name, village_name=row.village_name,
        level=row.level, level_name=level_name, levels_total=len(levels), urgent=row.urgent, unknown_caller=unknown,
        silent=silent, caller_trust=row.caller_trust, held=held, attention=row.urgent or unknown or silent or held,
        press_count=row.press_count, acks=row.ack_count,
        opened_at=row.opened_at, next_escalation_at=row.next_escalation_at, closed_at=row.closed_at,
    )


def queue_order(items: list[IncidentSummary]) -> list[IncidentSummary]:
    """Most urgent first: attention, then still alerting (nobody confirmed yet) before help confirmed,
    then the higher escalation level; within that the longest waiting."""
    return sorted(items, key=lambda i: (not i.attention, i.status != "alerting", -i.level, i.opened_at, i.id))


def leg(row: StoredLeg) -> LegPublic:
    return LegPublic(
        id=row.id, recipient=row.recipient_name, role=row.recipient_role,
        role_label=_ROLE_LABELS.get(row.recipient_role, row.recipient_role),
        phone_display=display_phone(row.recipient_phone), channel=row.channel, purpose=row.purpose,
        attempt=row.attempt, level=row.level, status=row.status, updated_at=row.updated_at, detail=row.detail,
    )


def responders(plan: dict[str, Any], acks: list[dict[str, Any]], legs: list[LegPublic],
               leg_phones: dict[str, str]) -> list[ResponderState]:
    """Everyone the plan may alert, level by level, each with their legs in the order placed."""
    acked = {a["phone"] for a in acks}
    seen: set[str] = set()
    result: list[ResponderState] = []
    for level in plan.get("levels", []):
        for planned in level["recipients"]:
            phone = planned["phone"]
            if phone in seen:
                continue
            seen.add(phone)
            result.append(ResponderState(
                key=phone, name=planned["name"], role=planned["role"],
                role_label=_ROLE_LABELS.get(planned["role"], planned["role"]), phone_display=display_phone(phone),
                level=level["index"], acknowledged=phone in acked,
                legs=[leg for leg in legs if leg_phones[leg.id] == phone]))
    return result


def timeline(rows: list[StoredEvent]) -> list[TimelineEvent]:
    return [TimelineEvent(at=r.at, kind=r.kind, actor=r.actor, data=jsonable_dict(r.data)) for r in rows]


def voice_messages(incident_id: str, events: list[TimelineEvent]) -> list[VoiceMessage]:
    found = [e for e in events if e.kind == VOICE_EVENT and e.data.get("path")]
    return [VoiceMessage(index=n, at=e.at, url=f"/api/incidents/{incident_id}/voice/{n}")
            for n, e in enumerate(found)]


def voice_path(events: list[TimelineEvent], index: int) -> str | None:
    found = [e for e in events if e.kind == VOICE_EVENT and e.data.get("path")]
    return str(found[index].data["path"]) if 0 <= index < len(found) else None


def snapshot(row: IncidentRecord) -> dict[str, Any]:
    """What the audit log keeps of an incident before and after an operator's action."""
    return jsonable_dict({"status": row.status, "emergency_type": row.emergency_type, "level": row.level,
                          "acks": [a["name"] for a in row.acks], "urgent": row.urgent})



"""Fan-out plan: who each escalation level reaches, on which channels, fixed when the incident opens.

The plan is computed once from the directory and stored with the incident, so a roster edited
mid-incident never changes who is being called, and a restart resumes exactly the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from callcenter.domain.policy import EscalationPolicy, Level
from callcenter.domain.types import Channel, Recipient
from contacts.model import ESCALATION_ROLE_ORDER, CallerLookup, Responder, Role

__all__ = ["FanOutPlan", "PlannedLevel", "PlannedRecipient", "plan_fan_out"]


@dataclass(frozen=True, slots=True)
class PlannedRecipient:
    recipient: Recipient
    channels: tuple[Channel, ...]


@dataclass(frozen=True, slots=True)
class PlannedLevel:
    index: int
    name: str
    recipients: tuple[PlannedRecipient, ...]
    operators: bool = False
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class FanOutPlan:
    levels: tuple[PlannedLevel, ...]

    def level(self, index: int) -> PlannedLevel | None:
        return self.levels[index] if 0 <= index < len(self.levels) else None

    def recipient(self, key: str) -> Recipient | None:
        for level in self.levels:
            for planned in level.recipients:
                if planned.recipient.key == key:
                    return planned.recipient
        return None


def plan_fan_out(found: CallerLookup | None, policy: EscalationPolicy, caller: str) -> FanOutPlan:
    """Everyone to alert, level by level. An unknown caller has nobody: operators take it."""
    if found is None:
        return FanOutPlan(tuple(PlannedLevel(i, lv.name, (), lv.operators, lv.urgent)
                                for i, lv in enumerate(policy.levels)))
    skip = {caller, *found.household.emergency_lines, *(c.phone for c in found.own_contacts)}
    return FanOutPlan(tuple(_plan_level(i, lv, found, skip) for i, lv in enumerate(policy.levels)))


def _plan_level(index: int, level: Level, found: CallerLookup, skip: set[str]) -> PlannedLevel:
    """One entry per phone: a person in two roles is alerted once, on the union of the channels.

    They are alerted in their most senior role, so a grid worker who is also a neighbour's contact
    still meets a quorum that any grid worker meets.
    """
    recipients: dict[str, Recipient] = {}
    channels: dict[str, list[Channel]] = {}
    for target in level.targets:
        for responder in found.by_role(target.role):
            if responder.phone in skip:
                continue
            current = recipients.get(responder.phone)
            if current is None or _rank(responder.role) > _rank(Role(current.role)):
                recipients[responder.phone] = _recipient(responder)
            merged = channels.setdefault(responder.phone, [])
            for channel in target.channels:
                if channel not in merged:
                    merged.append(channel)
    planned = tuple(PlannedRecipient(r, tuple(channels[key])) for key, r in recipients.items())
    return PlannedLevel(index, level.name, planned, level.operators, level.urgent)


def _rank(role: Role) -> int:
    return ESCALATION_ROLE_ORDER.index(role)


def _recipient(responder: Responder) -> Recipient:
    return Recipient(name=responder.name, phone=responder.phone, role=Role(responder.role).value,
                     responder_id=responder.id)

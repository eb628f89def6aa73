"""The auditor's bookkeeping: which late escalations and legs are news, and their timeline events.

The leader audits every 5 s (``IncidentEngine.audit``). Every late item counts in the health metric,
but each goes on its incident's timeline once, when first found late: in a flood thousands of legs
wait for a trunk channel, and flagging them again at every audit wrote a thousand events every 5 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from callcenter.domain.incident import IncidentEvent
from callcenter.service.ports import Overdue

__all__ = ["LateFlags", "audit_events", "by_incident"]


class LateFlags:
    """The items (incident, what) flagged at an earlier audit and still late at the last one."""

    def __init__(self) -> None:
        self._flagged: set[tuple[str, str]] = set()

    def newly_late(self, overdue: Sequence[Overdue]) -> list[Overdue]:
        """The items of ``overdue`` not late at the previous audit, in order; remembers ``overdue``
        for the next (an item no longer late is forgotten, and flagged again if it falls late again)."""
        flagged, self._flagged = self._flagged, {(item.incident_id, item.what) for item in overdue}
        return [item for item in overdue if (item.incident_id, item.what) not in flagged]


def by_incident(items: Sequence[Overdue]) -> dict[str, list[Overdue]]:
    grouped: dict[str, list[Overdue]] = {}
    for item in items:
        grouped.setdefault(item.incident_id, []).append(item)
    return grouped


def audit_events(items: Sequence[Overdue], now: datetime) -> list[IncidentEvent]:
    """One "audit_overdue" timeline event per late item."""
    return [IncidentEvent(now, "audit_overdue", "auditor", {
        "what": item.what, "due_at": item.due_at, "late_seconds": item.late_by.total_seconds()}) for item in items]

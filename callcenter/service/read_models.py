"""What the incident store hands the console for one incident: its alert legs and its timeline, typed.

Both stores (SQL, callcenter/db/incident_repo.py; in memory, callcenter/adapters/memory.py) build these
from their rows, so the console's views read named, typed fields rather than whatever a driver's row
or a dict happens to carry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

__all__ = ["StoredEvent", "StoredLeg"]


def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


@dataclass(frozen=True, slots=True)
class StoredLeg:
    """One alert leg as stored (table ``alert_leg``)."""

    id: str
    incident_id: str
    recipient_name: str
    recipient_phone: str
    recipient_role: str
    responder_id: int | None
    channel: str
    purpose: str
    attempt: int
    level: int
    status: str
    due_at: datetime
    created_at: datetime
    updated_at: datetime
    provider: str
    provider_ref: str
    detail: str
    interrupted: bool
    claimed_by: str | None
    claimed_at: datetime | None

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> Self:
        return cls(**{name: row[name] for name in _fields(cls)})


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One timeline entry as stored (table ``incident_event``)."""

    id: int | None
    incident_id: str
    at: datetime
    kind: str
    actor: str
    data: dict[str, Any]

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> Self:
        return cls(**{name: row[name] for name in _fields(cls)})

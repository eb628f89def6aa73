"""Which incident a live inbound call belongs to: the channel remembers it when the INVITE opens it.

The SIP channel calls ``IncidentEngine.key_press(number)`` on the INVITE (the alert never waits for a
menu), then ``remember(number, incident)``; the inbound handler's ``incident_lookup`` is this object,
called with ``CallMedia.remote_number`` (the same string the channel used). ``forget`` when the call
ends keeps the table as small as the number of live calls.
"""

from __future__ import annotations

import threading

from callcenter.domain.incident import Incident
from callcenter.domain.types import EMERGENCY_TYPE_LABELS
from callcenter.ivr.ports import CallerIncident
from contacts.phones import display_phone


def caller_incident(incident: Incident) -> CallerIncident:
    """The incident's id and the facts its prompts may speak."""
    return CallerIncident(incident.id, {
        "label": incident.label, "address": incident.address, "caller": display_phone(incident.caller),
        "emergency_type": incident.emergency_type.value, "type": EMERGENCY_TYPE_LABELS[incident.emergency_type],
    })


class CallerIncidents:
    def __init__(self) -> None:
        self._by_number: dict[str, CallerIncident] = {}
        self._lock = threading.Lock()

    def remember(self, number: str, incident: Incident) -> None:
        with self._lock:
            self._by_number[number] = caller_incident(incident)

    def forget(self, number: str) -> None:
        with self._lock:
            self._by_number.pop(number, None)

    def __call__(self, number: str) -> CallerIncident | None:
        with self._lock:
            return self._by_number.get(number)

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_number)

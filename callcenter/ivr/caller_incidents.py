"""Which incident a live inbound call belongs to: remembered when the INVITE opens it.

The SIP channel calls ``on_emergency(number, trust)`` on the INVITE, before answering (the alert never waits
for a menu). ``CallerIncidents.emergency_opener(engine.key_press)`` is that callable: it opens (or
joins) the incident and remembers it. The inbound handler's ``incident_lookup`` is the
``CallerIncidents`` object itself, called with ``CallMedia.remote_number``. Numbers are matched on
their digits, so ``+86 139…``, ``139…`` and ``sip:139…@host`` find the same call.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from callcenter.domain.incident import Incident
from callcenter.domain.types import CallerId, CallerTrust
from callcenter.ivr.engine import SPOKEN_TYPES
from callcenter.ivr.ports import CallerIncident
from contacts.phones import display_phone

__all__ = ["CallerIncidents", "caller_incident", "number_key"]

MAX_REMEMBERED = 10_000  # far more than a trunk's live calls; the oldest are dropped beyond it


def caller_incident(incident: Incident) -> CallerIncident:
    """The incident's id and the facts its prompts may speak."""
    return CallerIncident(incident.id, {
        "label": incident.label, "address": incident.address, "caller": display_phone(incident.caller),
        "emergency_type": incident.emergency_type.value, "type": SPOKEN_TYPES[incident.emergency_type],
    })


def number_key(number: str) -> str:
    """The national significant digits of a number (no +86, no trunk 0); the text itself if it has none."""
    digits = "".join(c for c in number.split("@", 1)[0] if c.isdigit()).lstrip("0")
    if digits.startswith("86") and len(digits) > 11:
        digits = digits[2:].lstrip("0")
    return digits or number.strip()


class PressesKey(Protocol):
    """The engine's ``key_press``: open or join the caller's incident."""

    def __call__(self, caller: str, trust: CallerTrust, *, source: str = "") -> Incident: ...


class CallerIncidents:
    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self._by_number: OrderedDict[str, CallerIncident] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def emergency_opener(self, key_press: PressesKey) -> Callable[[CallerId], None]:
        """The channel's ``on_emergency``: open or join the caller's incident, remember it for the flow."""
        def on_emergency(caller: CallerId) -> None:
            self.remember(caller.number, key_press(caller.number, caller.trust, source=caller.source))

        return on_emergency

    def remember(self, number: str, incident: Incident) -> None:
        key = number_key(number)
        with self._lock:
            self._by_number[key] = caller_incident(incident)
            self._by_number.move_to_end(key)
            while len(self._by_number) > self._limit:
                self._by_number.popitem(last=False)

    def forget(self, number: str) -> None:
        with self._lock:
            self._by_number.pop(number_key(number), None)

    def __call__(self, number: str) -> CallerIncident | None:
        with self._lock:
            return self._by_number.get(number_key(number))

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_number)

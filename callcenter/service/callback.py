"""Click-to-call back: the operator's own phone rings first, then the household is bridged in.

The port is what the console calls; the SIP and Twilio channels provide real implementations.
``SimulatedCallBack`` records the request and answers at once, for the demo and for tests.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Protocol


class CallBackError(Exception):
    """The call-back could not be placed (no operator phone, channel refused)."""


class CallBack(Protocol):
    def call_back(self, operator_phone: str, household_line: str, incident_id: str) -> str:
        """Ring ``operator_phone``, then bridge ``household_line``; returns the channel's reference."""
        ...


@dataclass
class SimulatedCallBack:
    placed: list[tuple[str, str, str]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def call_back(self, operator_phone: str, household_line: str, incident_id: str) -> str:
        if not operator_phone:
            raise CallBackError("this account has no phone to ring first")
        with self._lock:
            self.placed.append((operator_phone, household_line, incident_id))
            return f"simulated-callback-{next(self._ids)}"

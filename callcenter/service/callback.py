"""Click-to-call back: the operator's own phone rings first, then the household is bridged in.

The port is what the console calls; the SIP and Twilio channels provide real implementations.
``SimulatedCallBack`` records the request and answers at once, for the demo and for tests.
``CallBackTimeline`` records how a real call-back went (operator answered, household answered,
ended, failed) as notes on the incident timeline, each naming the call-back's reference.
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from callcenter.domain.types import Actor

__all__ = [
    "CALL_BACK_ACTOR", "CALL_BACK_LABELS", "CallBack", "CallBackError", "CallBackOutcome", "CallBackTimeline",
    "SimulatedCallBack", "call_back_note",
]

log = logging.getLogger(__name__)


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


# -- progress on the incident timeline (shared by the SIP and Twilio call-backs) ------------------


class CallBackOutcome(StrEnum):
    """Steps of a call-back the operators see on the incident timeline."""

    OPERATOR_ANSWERED = "operator_answered"
    OPERATOR_UNANSWERED = "operator_unanswered"  # the household is then never dialled
    HOUSEHOLD_ANSWERED = "household_answered"  # both phones are connected
    HOUSEHOLD_UNANSWERED = "household_unanswered"
    ENDED = "ended"
    FAILED = "failed"


CALL_BACK_LABELS: dict[CallBackOutcome, str] = {
    CallBackOutcome.OPERATOR_ANSWERED: "接线员已接听，正在呼叫住户",
    CallBackOutcome.OPERATOR_UNANSWERED: "接线员未接听，未呼叫住户",
    CallBackOutcome.HOUSEHOLD_ANSWERED: "住户已接听，双方已接通",
    CallBackOutcome.HOUSEHOLD_UNANSWERED: "住户未接听",
    CallBackOutcome.ENDED: "通话结束",
    CallBackOutcome.FAILED: "回拨失败",
}
CALL_BACK_ACTOR = Actor("system", "call-back")


def call_back_note(reference: str, outcome: CallBackOutcome, detail: str = "") -> str:
    """The timeline text of one step, e.g. "回拨 sip-callback-1a2b：住户未接听（486 Busy Here）"."""
    suffix = f"（{detail}）" if detail else ""
    return f"回拨 {reference}：{CALL_BACK_LABELS[outcome]}{suffix}"


class TimelineNotes(Protocol):
    """The engine command a call-back uses to tell the operators how it went (IncidentEngine.add_note)."""

    def add_note(self, incident_id: str, text: str, actor: Actor) -> object: ...


class CallBackTimeline:
    """Writes call-back steps as notes on the incident; a failure to write is logged, never raised,
    because the phones are already ringing and the operator is on the line."""

    def __init__(self, notes: TimelineNotes) -> None:
        self.notes = notes

    def record(self, incident_id: str, reference: str, outcome: CallBackOutcome, detail: str = "") -> None:
        try:
            self.notes.add_note(incident_id, call_back_note(reference, outcome, detail), CALL_BACK_ACTOR)
        except Exception:
            log.exception("call-back %s step %s not recorded on incident %s", reference, outcome, incident_id)

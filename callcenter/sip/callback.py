"""Click-to-call back over SIP: the operator's phone rings first; once it answers, the household is
dialled and the two calls are bridged by copying audio frames between them.

Both calls go out through the registrar/proxy from the service's own phone (extension 995) and take
two of the trunk's channels (``SipAlertChannel.reserve_slots``): a call-back is refused rather than
queued when the channels are busy with alert calls, so it never delays an alert leg. Every step is
written on the incident timeline with the reference returned to the console.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from pyVoIP.VoIP import CallState

from callcenter.service.callback import CallBackError, CallBackOutcome, CallBackTimeline
from callcenter.sip.phone import HardenedCall
from callcenter.sip.rtp import HardenedRTPClient

__all__ = ["SipCallBack"]

log = logging.getLogger(__name__)

CALL_BACK_SLOTS = 2  # the operator's call and the household's
CANCEL_GRACE = 5.0  # seconds for the 487 after our CANCEL
FRAME_SECONDS = 0.02
# Audio waiting to be sent to one side beyond this (160 ms) is dropped: a late packet must not add
# its delay to the conversation for good.
MAX_BACKLOG_BYTES = 8 * 160


class Dialer(Protocol):
    def call(self, number: str) -> HardenedCall: ...


class TrunkSlots(Protocol):
    """The alert channel's channel count (``SipAlertChannel``)."""

    max_channels: int

    def is_healthy(self) -> bool: ...

    def reserve_slots(self, count: int) -> bool: ...

    def release_slots(self, count: int) -> None: ...


class SipCallBack:
    def __init__(self, phone: Dialer, slots: TrunkSlots, timeline: CallBackTimeline, *,
                 ring_timeout: float = 30.0, max_seconds: float = 3600.0) -> None:
        self.phone, self.slots, self.timeline = phone, slots, timeline
        self.ring_timeout, self.max_seconds = ring_timeout, max_seconds
        self.active: dict[str, list[HardenedCall]] = {}  # reference → its calls so far (health, tests)
        self._threads: dict[str, threading.Thread] = {}

    def call_back(self, operator_phone: str, household_line: str, incident_id: str) -> str:
        if not operator_phone:
            raise CallBackError("this account has no phone to ring first")
        if not self.slots.is_healthy():  # else the INVITE would ring nowhere until the ring timeout
            raise CallBackError("the SIP trunk is down (not registered or refusing calls); "
                                "try again shortly or use Twilio")
        if not self.slots.reserve_slots(CALL_BACK_SLOTS):
            raise CallBackError(f"all {self.slots.max_channels} SIP channels are busy with alert calls; "
                                "try again in a moment")
        reference = f"sip-callback-{uuid.uuid4().hex[:12]}"
        self.active[reference] = []
        thread = threading.Thread(target=self._run, args=(reference, operator_phone, household_line, incident_id),
                                  name=f"callback-{reference[-6:]}", daemon=True)
        self._threads[reference] = thread
        thread.start()
        return reference

    def wait(self, reference: str, timeout: float) -> bool:
        """True once the call-back ``reference`` has ended (tests, shutdown)."""
        thread = self._threads.get(reference)
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _run(self, reference: str, operator_phone: str, household_line: str, incident_id: str) -> None:
        def record(outcome: CallBackOutcome, detail: str = "") -> None:
            self.timeline.record(incident_id, reference, outcome, detail)
        try:
            self._connect(reference, operator_phone, household_line, record)
        except Exception as exc:  # the operator must learn that the call-back broke
            log.exception("call-back %s failed", reference)
            record(CallBackOutcome.FAILED, f"{type(exc).__name__}: {exc}")
        finally:
            for call in self.active.pop(reference, []):
                call.hangup()
            self._threads.pop(reference, None)
            self.slots.release_slots(CALL_BACK_SLOTS)

    def _connect(self, reference: str, operator_phone: str, household_line: str,
                 record: Callable[[CallBackOutcome, str], None]) -> None:
        calls = self.active[reference]
        operator, why = self._dial(operator_phone, calls, abandon=lambda: False)
        if operator is None:
            record(CallBackOutcome.OPERATOR_UNANSWERED, why)
            return
        record(CallBackOutcome.OPERATOR_ANSWERED, "")
        household, why = self._dial(household_line, calls, abandon=lambda: operator.is_ended)
        if household is None:
            record(CallBackOutcome.HOUSEHOLD_UNANSWERED, why)
            return
        record(CallBackOutcome.HOUSEHOLD_ANSWERED, "")
        started = time.monotonic()
        ended_by = bridge(operator, household, self.max_seconds)
        record(CallBackOutcome.ENDED, f"{ended_by}，通话 {time.monotonic() - started:.0f} 秒")

    def _dial(self, number: str, calls: list[HardenedCall], abandon: Callable[[], bool]
              ) -> tuple[HardenedCall | None, str]:
        """The answered call, or None and why not (final response, ring timeout, operator gone)."""
        call = self.phone.call(number)
        calls.append(call)
        deadline = time.monotonic() + self.ring_timeout
        while call.state == CallState.DIALING and time.monotonic() < deadline and not abandon():
            call.wait_for(lambda c: c.state != CallState.DIALING, 0.2)
        if call.state == CallState.DIALING:
            why = "接线员已挂断" if abandon() else f"响铃 {self.ring_timeout:g} 秒无人接听"
            call.hangup()  # CANCEL
            call.wait_for(lambda c: c.state != CallState.DIALING, CANCEL_GRACE)
            if not _answered(call):  # it may have been answered just as we cancelled
                return None, why
        if call.state == CallState.ANSWERED and not abandon():
            return call, ""
        if call.state == CallState.ANSWERED:
            return None, "接线员已挂断"
        return None, f"{call.final_code or 0} {call.final_reason}".strip()


def bridge(operator: HardenedCall, household: HardenedCall, max_seconds: float) -> str:
    """Copy received audio each way until either side hangs up or ``max_seconds`` pass; says who ended it."""
    deadline = time.monotonic() + max_seconds
    while operator.state == CallState.ANSWERED and household.state == CallState.ANSWERED:
        if time.monotonic() >= deadline:
            return f"超过 {max_seconds:g} 秒上限"
        moved = copy_audio(operator, household) + copy_audio(household, operator)
        if not moved:
            household.wait_for(lambda c: c.is_ended, FRAME_SECONDS)
    return "住户挂断" if household.state != CallState.ANSWERED else "接线员挂断"


def copy_audio(source: HardenedCall, target: HardenedCall) -> int:
    """Move every audio byte received on ``source`` to ``target``'s sender; returns how many."""
    heard = bytearray()
    for client in _rtp(source):
        pending = client.pmin.pending()
        if pending:
            heard += client.pmin.read(pending)
    if heard:
        for client in _rtp(target):
            if client.queued_audio() > MAX_BACKLOG_BYTES:
                client.drop_queued_audio()
            client.write(bytes(heard))
    return len(heard)


def _answered(call: HardenedCall) -> bool:
    return bool(call.state == CallState.ANSWERED)


def _rtp(call: HardenedCall) -> list[HardenedRTPClient]:
    return [c for c in call.RTPClients if isinstance(c, HardenedRTPClient)]

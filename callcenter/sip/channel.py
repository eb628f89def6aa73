"""SipAlertChannel: alert calls over the hardened phone, at most ``max_channels`` at once.

Legs beyond the limit wait in a queue shared fairly across incidents (FairDialQueue,
callcenter/service/dial_queue.py): the next free channel goes to the incident with the fewest calls up,
and while calls wait no incident has more up than its quorum needs plus a margin. ``send`` only
queues: it never waits for a recipient. A waiting leg is reported ``queued`` when handed over
(``is_queued``) and ``dialing`` when it leaves the queue; one the incident stood down while it waited
(its quorum met, the incident closed: ``still_wanted`` says) is dropped without ringing anyone.

As a failover path (callcenter.channels.failover) the channel is healthy while the phone is registered
and the trunk has not refused an INVITE with 503 within ``trunk_recheck`` seconds. A leg that was
never put through to a phone (still queued when the path goes down, refused by the trunk with 503,
or reaching a trunk slot while that 503 is recent) is handed back through ``hand_back`` so the
failover channel sends it on the next path at once; without that callback it is reported FAILED
("path down") and the engine redials it. A leg that rang or was answered is never handed back, so
no attempt is placed twice.

A leg that finds every RTP port pair of the range taken (the households' own calls hold them in a
flood) was not put through either: it goes back into the queue and the channel dials nothing for
``MEDIA_RETRY_SECONDS``. Failing it would count the neighbour as tried, so a full port range would
burn through a level's calls in a blink and climb to the village station before any neighbour rang.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from pyVoIP.VoIP import CallState, NoPortsAvailableError

from callcenter.channels.ports import HandBack
from callcenter.domain.types import LegStatus
from callcenter.ivr.media import AnsweredLegHandler, LegDecided
from callcenter.service.dial_queue import FairDialQueue
from callcenter.service.ports import LegOrder, OutcomeSink
from callcenter.sip.media import SipCallMedia
from callcenter.sip.orphans import DialogIds, dialog_ids
from callcenter.sip.outcomes import final_response_outcome
from callcenter.sip.phone import HardenedCall
from callcenter.sip.sdp import OfferRefused

__all__ = ["SipAlertChannel"]

log = logging.getLogger(__name__)

CANCEL_GRACE = 5.0  # seconds for the 487 after our CANCEL
TRUNK_DOWN_CODES = frozenset({503})  # the trunk (not the neighbour) refused the call


class Dialer(Protocol):
    def call(self, number: str, dialog: DialogIds | None = None) -> HardenedCall: ...


# A leg that waited this long for a trunk channel is read again from the store before it is dialled
# (its incident may have stood it down meanwhile). One dialled sooner was claimed just now: reading its
# whole incident again cost the first 20 calls of a press ~180 ms on SQLite (bench.sip, section 5).
WAITED_SECONDS = 0.5
# With no RTP port pair free, queued legs wait this long before the next try (calls end every few seconds).
MEDIA_RETRY_SECONDS = 0.5

class SipAlertChannel:
    name = "sip"
    survives_restart = False

    def __init__(
        self, phone: Dialer, handler: AnsweredLegHandler, *, ring_timeout: float = 30.0, max_channels: int = 30,
        sink: OutcomeSink | None = None, on_dial: Callable[[LegOrder], None] | None = None,
        registered: Callable[[], bool] | None = None, trunk_recheck: float = 30.0,
        clock: Callable[[], float] = time.monotonic, still_wanted: Callable[[str], bool] | None = None,
        prepare: Callable[[LegOrder], None] | None = None, holder: str | None = None,
        hand_back: HandBack | None = None,
    ) -> None:
        self.phone = phone
        self.handler = handler
        self.ring_timeout = ring_timeout
        self.max_channels = max_channels
        self.sink = sink
        self.on_dial = on_dial  # told as each queued leg is actually dialled (tests, metrics)
        # Told as each leg is dialled, to get what it will say ready while it rings; never blocks.
        self.prepare = prepare
        self.queue = FairDialQueue()
        self._waiting: dict[str, float] = {}  # refs of the legs in the queue, and when each was queued
        # Whether a leg is still to be placed when it leaves the queue (None: every leg is).
        self.still_wanted = still_wanted
        self.registered = registered  # None: no registration to watch (a static trunk)
        self.trunk_recheck = trunk_recheck
        # Legs this path will not place go back through it; a failover channel over it connects it.
        self.hand_back = hand_back or HandBack()
        # This instance in leg claims: alert calls then carry identifiers a survivor can recompute.
        self.holder = holder
        self._clock = clock
        self._trunk_refused: tuple[float, str] | None = None  # (when, why) of the last 503
        self._active = 0
        self._lock = threading.Lock()
        self._closed = False
        self._media_full_until = 0.0  # no leg is dialled before this: every RTP port pair was taken
        self._media_timer: threading.Timer | None = None
        self.media_waits = 0  # legs put back in the queue for want of an RTP port (metrics, tests)

    @property
    def active_calls(self) -> int:
        return self._active

    def reserve_slots(self, count: int) -> bool:
        """Take ``count`` trunk channels for a call that is not an alert leg (an operator's call-back);
        False when that many are not free now. Alert legs never wait behind a call-back in the queue."""
        with self._lock:
            if self._active + count > self.max_channels:
                return False
            self._active += count
            return True

    def release_slots(self, count: int) -> None:
        with self._lock:
            self._active -= count
        self._pump()

    def send(self, order: LegOrder) -> str:
        ref = f"sip-{uuid.uuid4().hex[:16]}"
        with self._lock:
            self._waiting[ref] = self._clock()
        self.queue.push(order, ref)
        self._pump()
        return ref

    def is_queued(self, ref: str) -> bool:
        """The leg still waits for a trunk channel (nobody's phone rings yet)."""
        return ref in self._waiting

    # -- health, as a failover path --------------------------------------------------------

    def is_healthy(self) -> bool:
        if self.registered is not None and not self.registered():
            return False
        return not self._trunk_refusing()

    def _trunk_refusing(self) -> bool:
        refused = self._trunk_refused
        return refused is not None and self._clock() - refused[0] < self.trunk_recheck

    @property
    def trunk_error(self) -> str:
        return self._trunk_refused[1] if self._trunk_refused else ""

    def release_pending(self) -> int:
        """Hand back every leg still waiting for a channel slot; returns how many."""
        released = 0
        while (item := self._pop()) is not None:
            self.queue.ended(item[0].incident_id, rang=False)
            self._hand_back(item[0], item[1], "sip: released while waiting for a trunk channel")
            released += 1
        return released

    def _pop(self) -> tuple[LegOrder, str] | None:
        item = self.queue.pop()
        if item is not None:
            with self._lock:
                self._waiting.pop(item[1], None)
        return item

    def _trunk_down(self, order: LegOrder, ref: str, reason: str) -> None:
        self._trunk_refused = (self._clock(), reason)
        log.warning("SIP trunk refused alert leg %s (%s): path unhealthy", order.leg_id, reason)
        self._hand_back(order, ref, reason)

    def _hand_back(self, order: LegOrder, ref: str, reason: str) -> None:
        """A leg not put through to any phone goes to another path, or is failed so the engine redials it."""
        if self.hand_back.connected:
            try:
                self.hand_back(order, reason)
                return
            except Exception as exc:  # no other path took it: the engine's redial is the last resort
                reason = f"{reason}; {exc}"
        self._report(order, LegStatus.FAILED, f"path down: {reason}", ref)

    def close(self) -> None:
        """The phone is stopping: no queued leg is dialled any more. They stay claimed and pending in
        the database, for the next leader's recovery to replace (each would otherwise fail on the
        closed socket, thousands of them after a flood). So does a leg whose call the stopping phone
        ended under it."""
        with self._lock:
            self._closed = True
            if self._media_timer is not None:
                self._media_timer.cancel()
        log.info("SIP channel closed with %d legs queued", len(self.queue))

    def _pump(self) -> None:
        while True:
            with self._lock:
                if self._closed or self._active >= self.max_channels or self._media_full():
                    return
                item = self.queue.pop()
                if item is None:
                    return
                queued_at = self._waiting.pop(item[1], None)
                self._active += 1
                waited = queued_at is None or self._clock() - queued_at >= WAITED_SECONDS
            threading.Thread(target=self._run_leg, args=(*item, waited), name=f"leg-{item[0].leg_id[-12:]}",
                             daemon=True).start()

    def _run_leg(self, order: LegOrder, ref: str, waited: bool = True) -> None:
        rang = False  # whether the neighbour's phone rang: a busy or failed call leaves the incident as needy
        try:
            if waited and not self._wanted(order):
                log.info("alert leg %s stood down while it waited for a trunk channel: not dialled", order.leg_id)
                return
            if self._trunk_refusing() and self.hand_back.connected:
                # Queued before the trunk's 503 reached the failover channel: another path takes it.
                self._hand_back(order, ref, f"sip: not dialled, trunk refusing ({self.trunk_error})")
                return
            if self.on_dial is not None:
                self.on_dial(order)
            self._prepare(order)
            rang = self._place(order, ref)
        except Exception as exc:  # a leg always ends with an outcome
            if self._closed:  # the phone stopped under it: it stays claimed, as queued legs do
                log.info("alert leg %s ended by the stopping phone (%s: %s)", order.leg_id, type(exc).__name__, exc)
                return
            log.exception("alert leg %s failed", order.leg_id)
            self._report(order, LegStatus.FAILED, f"{type(exc).__name__}: {exc}", ref)
        finally:
            self.queue.ended(order.incident_id, rang=rang)
            with self._lock:
                self._active -= 1
            self._pump()

    def _media_full(self) -> bool:
        """Whether legs wait for RTP ports (lock held); arms the one timer that pumps again after."""
        left = self._media_full_until - self._clock()
        if left <= 0:
            return False
        if self._media_timer is None:
            self._media_timer = threading.Timer(left, self._media_retry)
            self._media_timer.daemon = True
            self._media_timer.start()
        return True

    def _media_retry(self) -> None:
        with self._lock:
            self._media_timer = None
        self._pump()

    def _requeue_for_media(self, order: LegOrder, ref: str, exc: Exception) -> None:
        """No RTP port pair free: the leg waits in the queue again, as if no trunk channel were free."""
        with self._lock:
            first = self._media_full_until <= self._clock()
            self._media_full_until = self._clock() + MEDIA_RETRY_SECONDS
            self._waiting[ref] = self._clock()
            self.media_waits += 1
        if first:
            log.warning("alert leg %s waits: %s (calls wait until a port pair is free)", order.leg_id, exc)
        self.queue.push(order, ref)

    def _wanted(self, order: LegOrder) -> bool:
        if self.still_wanted is None:
            return True
        try:
            return self.still_wanted(order.leg_id)
        except Exception:  # cannot tell (the database is away): ringing twice beats not ringing
            log.exception("could not check alert leg %s before dialling", order.leg_id)
            return True

    def _prepare(self, order: LegOrder) -> None:
        if self.prepare is not None:
            try:
                self.prepare(order)
            except Exception:  # the call renders what it says on answer instead
                log.exception("could not prepare alert leg %s", order.leg_id)

    def _place(self, order: LegOrder, ref: str) -> bool:
        """Dial, ring, run the answered call; True if the neighbour's phone rang (or answered)."""
        dialog = dialog_ids(self.holder, order.leg_id) if self.holder else None
        try:
            call = self.phone.call(order.recipient.phone, dialog)
        except OfferRefused as exc:  # the same offer would get the same 488: nobody is rung
            self._report(order, LegStatus.FAILED, f"488 {exc}", ref)
            return False
        except NoPortsAvailableError as exc:  # nothing left us: the leg is still queued, not tried
            self._requeue_for_media(order, ref, exc)
            return False
        self._report(order, LegStatus.DIALING, "", ref)
        if not self._wait_answer(order, call, ref):
            return bool(call.ringing)
        self._report(order, LegStatus.ANSWERED, "", ref)
        decided = _Decision(lambda status, detail: self._report(order, status, detail, ref))
        try:
            decided(self.handler(order, SipCallMedia(call), decided), "")
        except Exception:
            if decided.status is None:
                raise
            # The neighbour's key is stored; a failure in the confirmation after it changes nothing.
            log.exception("alert leg %s failed after its key was stored as %s", order.leg_id, decided.status)
        finally:
            call.hangup()
        return True

    def _wait_answer(self, order: LegOrder, call: HardenedCall, ref: str) -> bool:
        """True once answered; otherwise reports the final outcome (busy, no answer, failed) and returns False."""
        deadline = time.monotonic() + self.ring_timeout
        reported_ringing = False
        while call.state == CallState.DIALING and (left := deadline - time.monotonic()) > 0:
            call.wait_for(_progressed(reported_ringing), left)
            if call.ringing and not reported_ringing:
                reported_ringing = True
                self._report(order, LegStatus.RINGING, "", ref)
        if call.ringing and not reported_ringing:  # 180 and 200 arrived together
            self._report(order, LegStatus.RINGING, "", ref)
        if call.state == CallState.DIALING:
            return self._cancel(order, call, ref)
        if call.state == CallState.ANSWERED:
            return True
        code = call.final_code or 0
        if code in TRUNK_DOWN_CODES:
            self._trunk_down(order, ref, f"sip: trunk answered {code} {call.final_reason}".strip())
            return False
        self._report(order, final_response_outcome(code), f"{code} {call.final_reason}".strip(), ref)
        return False

    def _cancel(self, order: LegOrder, call: HardenedCall, ref: str) -> bool:
        call.hangup()  # CANCEL
        call.wait_for(lambda c: c.state != CallState.DIALING, CANCEL_GRACE)
        if call.state == CallState.ANSWERED:  # answered just as we cancelled
            return True
        if call.state == CallState.DIALING:
            call.finish(408, "no final response after CANCEL")
        self._report(order, LegStatus.NO_ANSWER, f"rang {self.ring_timeout:g} s without an answer", ref)
        return False

    def _report(self, order: LegOrder, status: LegStatus, detail: str, ref: str) -> None:
        if self.sink is None:
            log.error("no outcome sink: leg %s %s lost", order.leg_id, status)
            return
        try:
            self.sink.leg_outcome(order.leg_id, status, detail, ref)
        except Exception:
            log.exception("outcome %s of leg %s not recorded", status, order.leg_id)


class _Decision:
    """An answered leg's outcome, reported once: the first key decides it the moment it is pressed
    (``LegDecided``); the rest of the call (its confirmation, a hang-up, a late error) cannot change
    or delay it. Runs on the leg's own thread, as the flow does."""

    def __init__(self, report: LegDecided) -> None:
        self._report = report
        self.status: LegStatus | None = None

    def __call__(self, status: LegStatus, detail: str) -> None:
        if self.status is not None:
            if status is not self.status:
                log.info("alert leg already decided as %s: %s later in the call changes nothing", self.status, status)
            return
        self.status = status
        self._report(status, detail)


def _progressed(reported_ringing: bool) -> Callable[[HardenedCall], bool]:
    """Wake the leg when the call leaves DIALING, or starts ringing if not yet reported."""
    return lambda c: c.state != CallState.DIALING or (c.ringing and not reported_ringing)

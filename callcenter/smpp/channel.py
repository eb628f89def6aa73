"""SMS alert legs over SMPP 3.4 to a carrier's SMSC (or a gateway such as Jasmin): a FailoverPath.

``send`` counts the message against the send limits, cuts the leg's full free text (with its
【995…】 signature) into UCS-2 parts (callcenter.smpp.segments), queues one ``submit_sm`` per part
with a delivery receipt requested, and waits for their ``submit_sm_resp`` — on loopback a few
milliseconds; the session's window and throughput limit pace them. It returns the parts' message
ids joined by "," (the leg's provider_ref), or raises from the channel error tree:

- an error status in a response → callcenter.smpp.errors (ESME_RTHROTTLED → RateLimited,
  ESME_RINVDSTADR → ProviderRefused, ESME_RSYSERR → ProviderDown, …): the SMSC did not take it;
- not bound within ``bind_wait_seconds`` and nothing written, the outbox full, or the path released
  → ProviderDown / RateLimited: provably not sent, the failover may send it elsewhere;
- written but no response within ``submit_timeout_seconds`` → no error: it returns
  ``unknown:<leg_id>`` and the leg stays SUBMITTED; the session writes it again after a re-bind and
  its receipt settles the leg when it comes (never sent by a second provider, docs/sms.md).

Receipts (``deliver_sm`` with the receipt esm_class) settle legs through the ledger: DELIVERED when
every part is delivered, UNDELIVERED with ``delivery_detail(failure, "stat/err")`` at the first
failed part. A receipt for a message sent before our restart is matched through storage: the leg's
provider_ref (``smpp:<id>,<id>``) names its message ids. Any other ``deliver_sm`` is a responder's
text: ``SmsReplies.answer`` applies it (1 / 到 / 收到 acknowledge) and the confirmation goes back to
the sender over the same bind.

Unhealthy (the failover moves new legs to the next path) while not bound, for ``recheck_seconds``
after a throttle or a system error, and when the SMSC stopped reporting: a submitted message has
waited more than ``report_seconds`` for its receipt and no receipt at all came in that time.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any

from callcenter.channels.delivery import DELIVERY_WINDOW_HOURS
from callcenter.channels.errors import ProviderDown, ProviderRefused, RateLimited
from callcenter.channels.limits import SendLimits
from callcenter.channels.ports import LegOrder, OutcomeSink
from callcenter.channels.replies import SmsReplies
from callcenter.domain.types import Channel
from callcenter.smpp.errors import translate_status
from callcenter.smpp.ledger import Ledger, Settled
from callcenter.smpp.receipts import Receipt, is_receipt, parse_receipt
from callcenter.smpp.segments import UCS2, segment
from callcenter.smpp.session import Deliver, OutboxFull, SmppSession, Submit, SubmitResult
from contacts.phones import mask_phone

__all__ = ["Addressing", "FindLeg", "PathRules", "SmppSmsChannel", "decode_text", "sender_number"]

log = logging.getLogger(__name__)

# The submitted leg whose provider_ref names a message id: (leg id, provider_ref), or None
# (SqlIncidentStore.submitted_leg_by_ref, bound to our path name).
FindLeg = Callable[[str], "tuple[str, str] | None"]
ORPHAN_SECONDS = 3.0  # a receipt no submit of ours claimed within this long is looked up in storage
ORPHAN_SWEEP_SECONDS = 1.0

INTERNATIONAL, NATIONAL, UNKNOWN_TON = 1, 2, 0
ISDN = 1


@dataclass(frozen=True, slots=True)
class Addressing:
    """Our side of the addresses: the source (a long number or a 106… service code) as the SMSC wants it."""

    source_addr: str
    source_ton: int = UNKNOWN_TON
    source_npi: int = ISDN


@dataclass(frozen=True, slots=True)
class PathRules:
    bind_wait_seconds: float = 5.0  # a send waits this long for a bind before the path counts as down
    submit_timeout_seconds: float = 30.0  # written, no response: the leg stays SUBMITTED as unknown
    report_seconds: float = 600.0  # a message without a receipt for this long: the path stops reporting
    recheck_seconds: float = 30.0  # after a throttle or system error, new legs go elsewhere this long


class SmppSmsChannel:
    name = "smpp"
    kind = Channel.SMS
    survives_restart = True  # the SMSC keeps our messages and their receipts while we restart

    def __init__(self, session_factory: Callable[[Callable[[Deliver], None]], SmppSession], addressing: Addressing,
                 sink: OutcomeSink, replies: Callable[[], SmsReplies], limits: SendLimits, find_leg: FindLeg,
                 rules: PathRules = PathRules(), clock: Callable[[], float] = time.monotonic) -> None:
        self.session = session_factory(self._on_deliver)
        self.addressing, self.sink, self.rules, self.limits = addressing, sink, rules, limits
        self._replies, self._find_leg, self._clock = replies, find_leg, clock
        self._stopped = threading.Event()
        self.ledger = Ledger()
        self._references = itertools.count(1)
        self._troubled_until = 0.0
        self._last_receipt_at = clock()
        self._closed = False

    def start(self) -> None:
        self.session.start()
        threading.Thread(target=self._adopt_orphans, name="smpp-orphans", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        self.session.stop()

    # -- FailoverPath -----------------------------------------------------------------------------

    def send(self, order: LegOrder) -> str:
        if self._closed:
            raise ProviderDown("smpp: the service is stopping")
        self.limits.take(order.recipient.phone, self._clock())
        items = self._queue(order.recipient.phone, order.text, receipt=True)
        results = self._await(order, items)
        if results is None:
            return f"unknown:{order.leg_id}"
        return self._accepted(order, results)

    def is_healthy(self) -> bool:
        return self.session.bound and self._clock() >= self._troubled_until and not self._stopped_reporting()

    def _stopped_reporting(self) -> bool:
        """A message has waited ``report_seconds`` for its receipt and no receipt came in that time
        (one receipt lost on the way does not take the path down while the others flow)."""
        now, wait = self._clock(), self.rules.report_seconds
        return now - self._last_receipt_at > wait and self.ledger.overdue(now, wait)

    def release_pending(self) -> int:
        """Sends not yet written raise ProviderDown now (they go to the next path)."""
        return self.session.release_unwritten("smpp path released")

    def close_sends(self) -> None:
        self._closed = True
        self.session.release_unwritten("the service is stopping")

    # -- submitting ----------------------------------------------------------------------------------

    def _queue(self, phone: str, text: str, receipt: bool) -> list[Submit]:
        items: list[Submit] = []
        try:
            for part in segment(text, next(self._references) & 0xFF):
                items.append(self.session.submit(self._params(phone, part.short_message, part.esm_class, receipt)))
        except OutboxFull as exc:
            self.session.withdraw(*items)
            self._trouble()
            raise RateLimited(f"smpp: outbox full ({exc})") from exc
        return items

    def _params(self, phone: str, short_message: bytes, esm_class: int, receipt: bool) -> dict[str, Any]:
        international = phone.startswith("+")
        return {"service_type": "", "source_addr_ton": self.addressing.source_ton,
                "source_addr_npi": self.addressing.source_npi, "source_addr": self.addressing.source_addr,
                "dest_addr_ton": INTERNATIONAL if international else UNKNOWN_TON, "dest_addr_npi": ISDN,
                "destination_addr": phone.lstrip("+"), "esm_class": esm_class, "data_coding": UCS2,
                "registered_delivery": 1 if receipt else 0, "short_message": short_message}

    def _await(self, order: LegOrder, items: list[Submit]) -> list[SubmitResult] | None:
        """Every part's response; None when some were written but not answered in time."""
        futures = [item.result for item in items]
        bind_deadline = time.monotonic() + self.rules.bind_wait_seconds  # a real wait, whatever the clock
        while not self.session.bound and not any(i.written for i in items) and time.monotonic() < bind_deadline:
            wait_futures(futures, timeout=0.05)
        never_bound = not self.session.bound and not any(i.written for i in items)
        if never_bound and self.session.withdraw(*items):
            self._trouble()
            raise ProviderDown(f"smpp: not bound to the SMSC ({self.session.last_error or 'binding'})")
        _, pending = wait_futures(futures, timeout=self.rules.submit_timeout_seconds)
        if pending:
            log.warning("smpp: leg %s written, no submit_sm_resp in %.0f s: left submitted", order.leg_id,
                        self.rules.submit_timeout_seconds)
            self._settle_later(order, futures)
            return None
        try:
            return [f.result() for f in futures]
        except ConnectionError as exc:  # released or stopping before it was written
            raise ProviderDown(f"smpp: {exc}") from exc

    def _accepted(self, order: LegOrder, results: list[SubmitResult]) -> str:
        refused = next((r for r in results if r.status != 0), None)
        if refused is not None:
            error = translate_status(refused.status)
            if not isinstance(error, ProviderRefused):  # throttled or down: new legs go elsewhere a while
                self._trouble()
            log.info("smpp: leg %s to %s refused: %s", order.leg_id, mask_phone(order.recipient.phone), error)
            raise error
        ids = tuple(r.message_id for r in results)
        for settled in self.ledger.submitted(order.leg_id, ids, self._clock()):
            self._report(settled)
        return ",".join(ids)

    def _settle_later(self, order: LegOrder, futures: list[Future[SubmitResult]]) -> None:
        """A late response still maps the parts to the leg, so their receipts settle it."""
        def late(_: object) -> None:
            if all(f.done() and not f.exception() for f in futures):
                results = [f.result() for f in futures]
                if all(r.status == 0 for r in results):
                    for settled in self.ledger.submitted(order.leg_id, tuple(r.message_id for r in results),
                                                         self._clock()):
                        self._report(settled)
        for future in futures:
            future.add_done_callback(late)

    def _trouble(self) -> None:
        self._troubled_until = self._clock() + self.rules.recheck_seconds

    # -- receipts and replies ----------------------------------------------------------------------

    def _on_deliver(self, deliver: Deliver) -> None:
        if is_receipt(deliver.esm_class):
            self._on_receipt(deliver)
        else:
            self._on_reply(deliver)

    def _on_receipt(self, deliver: Deliver) -> None:
        try:
            receipt = parse_receipt(deliver.short_message, deliver.receipted_message_id, deliver.message_state)
        except ValueError as exc:
            log.warning("smpp: %s", exc)
            return
        if not receipt.final:
            return
        self._last_receipt_at = self._clock()
        settled = self.ledger.receipt(receipt, self._clock())
        if settled is not None:
            self._report(settled)

    def _adopt_orphans(self) -> None:
        """Receipts no submit of ours claimed: for legs sent before our restart, found in storage."""
        while not self._stopped.wait(ORPHAN_SWEEP_SECONDS):
            self.ledger.expire(self._clock(), DELIVERY_WINDOW_HOURS * 3600.0)  # no report will come now
            for receipt in self.ledger.stale_early(self._clock(), ORPHAN_SECONDS):
                try:
                    self._adopt(receipt)
                except Exception:  # storage down: the receipt is lost, the leg stays submitted
                    log.exception("smpp: receipt for %s not matched", receipt.message_id)

    def _adopt(self, receipt: Receipt) -> None:
        found = self._find_leg(receipt.message_id)
        if found is None:
            log.warning("smpp: receipt for message %s that no submitted leg names", receipt.message_id)
            return
        leg_id, ref = found
        self.ledger.adopt(leg_id, tuple(ref.removeprefix(f"{self.name}:").split(",")), self._clock())
        settled = self.ledger.receipt(receipt, self._clock())
        if settled is not None:
            self._report(settled)

    def _report(self, settled: Settled) -> None:
        """As the failover channel stores the reference on hand-over: ``smpp:<id>,<id>``."""
        self.sink.leg_outcome(settled.leg_id, settled.status, settled.detail, f"{self.name}:{settled.provider_ref}")

    def _on_reply(self, deliver: Deliver) -> None:
        sender = sender_number(deliver.source, deliver.source_ton)
        body = decode_text(deliver.short_message, deliver.data_coding, deliver.esm_class)
        answer = self._replies().answer(sender, body)
        try:
            for item in self._queue(sender, answer, receipt=False):
                item.result.add_done_callback(_log_reply_refusal)
        except (RateLimited, ProviderDown) as exc:
            log.warning("smpp: confirmation to %s not sent: %s", mask_phone(sender), exc)


def _log_reply_refusal(future: Future[SubmitResult]) -> None:
    try:
        result = future.result(timeout=0)
    except (ConnectionError, FutureTimeout):
        return
    if result.status != 0:
        log.warning("smpp: reply confirmation refused: %s", translate_status(result.status, "a reply"))


def sender_number(source: str, ton: int) -> str:
    """A mobile-originated sender as our directory spells numbers: international ones with "+"."""
    return f"+{source}" if ton == INTERNATIONAL and not source.startswith("+") else source


def decode_text(short_message: bytes, data_coding: int, esm_class: int) -> str:
    body = short_message[short_message[0] + 1:] if esm_class & 0x40 and short_message else short_message
    if data_coding == UCS2:
        return body.decode("utf-16-be", "replace")
    return body.decode("latin-1")


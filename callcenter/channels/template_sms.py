"""A failover path for SMS providers that send only approved templates (Aliyun SMS, Tencent Cloud SMS).

``TemplateSmsChannel.send`` fits the leg's values to the provider's approved template (TemplateBook;
a message that does not fit is ProviderRefused with the reason, so the failover tries the next
provider), counts it against our side of the provider's limits (SendLimits: RateLimited before any
request), and submits it through the provider's ``SmsGateway`` — the one place that speaks the SDK and
translates its errors into the channel error tree. It returns the provider's message id once the
provider accepted the message; delivery reports arrive later (the provider's push, or the poll here)
and are matched by the ReportLedger (callcenter.channels.sms_ledger).

Never twice by two providers: a gateway raises ProviderDown only when the message provably was not
accepted (refused connection, an error answer). When the request may have reached the provider (the
answer timed out), it raises ``SubmitUncertain`` instead and the leg stays SUBMITTED as
``unknown:<leg id>`` until the poll or a report settles it — the failover never sees an error for it.

Health (ChannelHealth): a send given up after ProviderDown, ``throttles_before_down`` throttled answers
within ``recheck_seconds``, or messages waiting with no report at all for ``report_silence_seconds``
make the path unhealthy; the failover channel then sends new messages through the next provider.
Provider-neutral: a provider is a gateway plus its push endpoints.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from callcenter.channels.errors import ProviderDown, ProviderRefused, RateLimited
from callcenter.channels.health import PathHealth
from callcenter.channels.limits import SendLimits
from callcenter.channels.ports import LegOrder
from callcenter.channels.sms_ledger import UNKNOWN, DeliveryReport, ReportLedger, Submission
from callcenter.domain.sms_templates import FittedSms, TemplateBook, TemplateMismatch
from callcenter.domain.types import Channel
from contacts.phones import mask_phone

__all__ = ["InboundReply", "SmsGateway", "SmsRetry", "SubmitUncertain", "TemplateSmsChannel"]

log = logging.getLogger(__name__)


class SubmitUncertain(Exception):  # not in the error tree: the message may well be on its way
    """The request may have reached the provider and no answer came: do not send it anywhere else."""


@dataclass(frozen=True, slots=True)
class InboundReply:
    sender: str  # as the provider wrote it (national or E.164)
    body: str
    key: str  # what makes two pushes the same reply


class SmsGateway(Protocol):
    """One provider's API, as the channel uses it. Raises only the channel error tree and SubmitUncertain."""

    provider: str

    def submit(self, phone: str, fitted: FittedSms, leg_id: str) -> str:
        """Send ``fitted`` to ``phone`` (E.164); the provider's message id."""
        ...

    def query(self, waiting: Sequence[Submission]) -> list[DeliveryReport]:
        """Reports of messages still waiting (the fallback poll); any the provider has, none repeated."""
        ...

    def pull_replies(self) -> list[InboundReply]:
        """Replies the provider holds for us (a provider that only pushes them returns none)."""
        ...


@dataclass(frozen=True, slots=True)
class SmsRetry:
    down_retries: int = 1
    backoff_seconds: float = 0.3
    recheck_seconds: float = 30.0
    throttles_before_down: int = 3
    report_wait_seconds: float = 30.0  # a message without a report this long is asked for
    poll_seconds: float = 10.0
    report_silence_seconds: float = 120.0


class TemplateSmsChannel:
    """A FailoverPath over one template provider (module docstring)."""

    kind = Channel.SMS
    survives_restart = True  # the message lives on at the provider; its report finds the leg by message id

    def __init__(self, gateway: SmsGateway, book: TemplateBook, limits: SendLimits, ledger: ReportLedger,
                 retry: SmsRetry, on_replies: Callable[[list[InboundReply]], object] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.gateway, self.book, self.limits, self.ledger, self.retry = gateway, book, limits, ledger, retry
        self.name = gateway.provider
        self.health = PathHealth(retry.recheck_seconds, clock, retry.throttles_before_down)
        self._on_replies = on_replies
        self._clock = clock
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # -- AlertChannel ----------------------------------------------------------------------

    def send(self, order: LegOrder) -> str:
        fitted = self._fit(order)
        self.limits.take(order.recipient.phone, self._clock())
        ref = self._submit(order, fitted)
        self.ledger.submitted(Submission(ref, order.leg_id, order.recipient.phone, self._clock(), datetime.now(UTC)))
        return ref

    def _fit(self, order: LegOrder) -> FittedSms:
        try:
            return self.book.fit(order.purpose, order.params)
        except TemplateMismatch as exc:
            raise ProviderRefused(f"{self.name}: {exc}") from exc

    def _submit(self, order: LegOrder, fitted: FittedSms) -> str:
        for attempt in range(self.retry.down_retries + 1):
            try:
                ref = self.gateway.submit(order.recipient.phone, fitted, order.leg_id)
            except SubmitUncertain as exc:
                log.warning("%s: leg %s to %s may have been accepted (%s); the poll will tell", self.name,
                            order.leg_id, mask_phone(order.recipient.phone), exc)
                return f"{UNKNOWN}{order.leg_id}"
            except RateLimited as exc:
                self.health.throttled(str(exc))
                raise
            except ProviderDown as exc:
                if attempt == self.retry.down_retries:
                    self.health.failed(str(exc))
                    raise
                log.info("%s: leg %s retry %d after %s", self.name, order.leg_id, attempt + 1, exc)
                time.sleep(self.retry.backoff_seconds * 2 ** attempt)
                continue
            self.health.succeeded()
            return ref
        raise AssertionError("unreachable")  # the loop returns or raises

    # -- ChannelHealth ---------------------------------------------------------------------

    def is_healthy(self) -> bool:
        return self.health.is_healthy() and not self.ledger.silent(self.retry.report_silence_seconds)

    def release_pending(self) -> int:
        return 0  # a send waits for nothing: there is never a leg to give back

    # -- the fallback poll -----------------------------------------------------------------

    def poll_once(self) -> int:
        """Ask the provider about messages waiting longer than ``report_wait_seconds``; take its replies."""
        self.ledger.expire()
        settled = 0
        waiting = self.ledger.waiting(self.retry.report_wait_seconds)
        if waiting:
            settled = sum(self.ledger.settle(report) == "recorded" for report in self.gateway.query(waiting))
        replies = self.gateway.pull_replies()
        if replies and self._on_replies is not None:
            self._on_replies(replies)
        return settled

    def start(self) -> None:
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll, name=f"{self.name}-poll", daemon=True)
            self._poller.start()

    def stop(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)

    def _poll(self) -> None:
        while not self._stop.wait(self.retry.poll_seconds):
            try:
                self.poll_once()
            except Exception:  # the poll must outlive a provider's bad answer
                log.exception("%s: report poll failed", self.name)

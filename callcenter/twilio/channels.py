"""Twilio as AlertChannels: alert calls and SMS, paced, retried, with status callbacks to us.

``send`` waits for a send slot (see pacing), then returns Twilio's SID as soon as Twilio accepted
the call or message; what happens next arrives later on our webhooks. A 429 waits and tries
again on this path; a 5xx or timeout is retried ``down_retries`` times, then raised as
ProviderDown so the failover channel can move the leg to another path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from callcenter.channels.errors import LegStoodDown, ProviderDown, RateLimited
from callcenter.channels.health import PathHealth
from callcenter.domain.types import Channel
from callcenter.ivr.engine import FlowState, encode_state
from callcenter.ivr.handlers import leg_facts
from callcenter.service.dial_queue import FairRanks
from callcenter.service.ports import LegOrder
from callcenter.twilio.client import TwilioApi
from callcenter.twilio.flows import encode_facts
from callcenter.twilio.pacing import PacerClosed, SendPacer, retry_delay
from contacts.phones import mask_phone

__all__ = ["WEBHOOK_PREFIX", "RetryPolicy", "TwilioCallChannel", "TwilioSmsChannel", "WebhookUrls"]

log = logging.getLogger(__name__)

WEBHOOK_PREFIX = "/twilio"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    down_retries: int = 1  # further tries after a 5xx or timeout before the path is given up
    rate_limited_retries: int = 6  # further tries after a 429 before the path is given up
    backoff_seconds: float = 0.5  # first wait; doubles each time
    recheck_seconds: float = 30.0  # a path given up is tried again for new legs after this long


@dataclass(frozen=True, slots=True)
class WebhookUrls:
    """Our public webhook addresses as Twilio must call them (and as signatures are computed)."""

    public_base_url: str

    def _url(self, path: str, **query: str) -> str:
        base = self.public_base_url.rstrip("/") + WEBHOOK_PREFIX + path
        return f"{base}?{urlencode(query)}" if query else base

    def alert_call(self, order: LegOrder) -> str:
        """The alert's facts ride in the (signed) URL, so the call's script survives our restart."""
        return self._url("/voice/alert", leg=order.leg_id, facts=encode_facts(leg_facts(order)))

    def flow_next(self, kind: str, ref: str, facts: Mapping[str, str], state: FlowState, event: str) -> str:
        """The next turn of a voice flow: ``kind`` "alert" (``ref`` a leg) or "inbound" (an incident)."""
        key = "leg" if kind == "alert" else "incident"
        return self._url(f"/voice/{kind}/next", **{key: ref}, facts=encode_facts(facts), state=encode_state(state),
                         event=event)

    def call_status(self, leg_id: str) -> str:
        return self._url("/voice/status", leg=leg_id)

    def sms_status(self, leg_id: str) -> str:
        return self._url("/sms/status", leg=leg_id)


@dataclass
class _TwilioChannel:
    api: TwilioApi
    pacer: SendPacer
    urls: WebhookUrls
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    name: str = "twilio"
    survives_restart: bool = True  # calls and messages live on at Twilio while we restart
    # Asked when the slot comes: a leg stood down while it waited (quorum met) is not sent.
    still_wanted: Callable[[str], bool] | None = None
    # Waiting legs are served fairly across incidents (service/dial_queue.py), within the rates.
    ranks: FairRanks = field(default_factory=FairRanks)
    health: PathHealth = field(init=False)

    def __post_init__(self) -> None:
        self.health = PathHealth(self.retry.recheck_seconds)

    def send(self, order: LegOrder) -> str:
        down = limited = 0
        not_before = 0.0
        priority = self.ranks.priority(order)
        while True:
            try:
                slot = self.pacer.acquire(priority, not_before)
            except PacerClosed as exc:
                raise ProviderDown(f"{self.name}: {exc}") from exc
            if not self._wanted(order):
                slot.unused()
                raise LegStoodDown(f"leg {order.leg_id} was stood down while waiting for a send slot")
            try:
                sid = self._create(order, slot.sender)
            except RateLimited as exc:
                limited += 1
                if limited > self.retry.rate_limited_retries:
                    self._give_up(order, f"still rate limited after {limited} tries: {exc}")
                not_before = time.monotonic() + retry_delay(limited, self.retry.backoff_seconds)
                continue
            except ProviderDown as exc:
                down += 1
                if down > self.retry.down_retries:
                    self._give_up(order, str(exc))
                log.info("%s: leg %s retry %d after %s", self.name, order.leg_id, down, exc)
                not_before = time.monotonic() + retry_delay(down, self.retry.backoff_seconds)
                continue
            finally:
                slot.done()
            self.health.succeeded()
            return sid

    def _wanted(self, order: LegOrder) -> bool:
        try:
            return self.still_wanted is None or self.still_wanted(order.leg_id)
        except Exception:  # cannot tell: sending an alert twice beats not sending it
            log.exception("%s: could not check leg %s before sending", self.name, order.leg_id)
            return True

    def _give_up(self, order: LegOrder, reason: str) -> None:
        self.health.failed(reason)
        log.warning("%s gave up on leg %s to %s: %s", self.name, order.leg_id, mask_phone(order.recipient.phone),
                    reason)
        raise ProviderDown(f"{self.name}: {reason}")

    def _create(self, order: LegOrder, sender: str) -> str:
        raise NotImplementedError

    # -- ChannelHealth ---------------------------------------------------------------------

    def is_healthy(self) -> bool:
        return self.health.is_healthy()

    def release_pending(self) -> int:
        """Legs still waiting for a send slot give up at once (their send raises ProviderDown)."""
        return self.pacer.release_waiting()

    def close_sends(self) -> None:
        """The service is stopping: no leg waiting for a slot, nor any later one, is sent."""
        self.pacer.close()


@dataclass
class TwilioCallChannel(_TwilioChannel):
    """Alert calls: our TwiML reads the alert and gathers 1/2/0; machine detection is on."""

    name: str = "twilio-call"
    ring_seconds: int = 30
    kind: Channel = Channel.CALL

    def _create(self, order: LegOrder, sender: str) -> str:
        return self.api.create_call(order.recipient.phone, sender, self.urls.alert_call(order),
                                    self.urls.call_status(order.leg_id), self.ring_seconds)


@dataclass
class TwilioSmsChannel(_TwilioChannel):
    """Alert, help-coming and cancellation texts with delivery callbacks."""

    name: str = "twilio-sms"
    kind: Channel = Channel.SMS

    def _create(self, order: LegOrder, sender: str) -> str:
        return self.api.create_message(order.recipient.phone, sender, order.text,
                                       self.urls.sms_status(order.leg_id))

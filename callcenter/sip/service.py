"""The SIP side of the service: one registered phone (extension 995) answering households and
placing alert calls through :class:`SipAlertChannel`.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from callcenter.channels.ports import LegOrder, OutcomeSink
from callcenter.domain.types import CallerId
from callcenter.ivr.media import AnsweredLegHandler, InboundCallHandler
from callcenter.sip.channel import SipAlertChannel
from callcenter.sip.handlers import hold_line, press_one_to_acknowledge
from callcenter.sip.media import SipCallMedia
from callcenter.sip.phone import HardenedCall, HardenedPhone
from callcenter.sip.registration import RegistrarKeepalive, RegistrationStatus
from callcenter.sip.sdp import codec_list
from contacts.phones import mask_phone

if TYPE_CHECKING:
    from callcenter.settings import SipSettings

__all__ = ["SipService"]

log = logging.getLogger(__name__)

# Opens (or joins) the incident for a caller number, as far as the edge could verify it.
EmergencyHook = Callable[[CallerId], object]


class SipService:
    def __init__(
        self, settings: SipSettings, on_emergency: EmergencyHook,
        inbound_handler: InboundCallHandler = hold_line, alert_handler: AnsweredLegHandler = press_one_to_acknowledge,
        still_wanted: Callable[[str], bool] | None = None, sink: OutcomeSink | None = None,
        prepare: Callable[[LegOrder], None] | None = None, holder: str | None = None,
    ) -> None:
        self.settings = settings
        self.on_emergency = on_emergency
        self.inbound_handler = inbound_handler
        self.phone = HardenedPhone(
            settings.registrar_host, settings.registrar_port, settings.extension,
            settings.password.get_secret_value(), settings.local_ip, self._on_call, settings.sip_port,
            settings.rtp_port_low, settings.rtp_port_high, codecs=codec_list(settings.codecs),
            on_unanswerable=self._on_unanswerable, alert_port=settings.alert_port,
            proxies=trusted_proxies(settings.registrar_host, settings.trusted_proxies),
            only_from_proxies=settings.only_from_proxies,
        )
        self.phone.sip.default_expires = settings.register_expires
        self.channel = SipAlertChannel(
            self.phone, alert_handler, ring_timeout=settings.ring_timeout, max_channels=settings.max_channels,
            registered=lambda: self.phone.registration.registered, still_wanted=still_wanted,
            sink=sink, prepare=prepare, holder=holder,
        )
        self.inbound_calls = 0
        self.keepalive = self._keepalive(settings)

    def _keepalive(self, settings: SipSettings) -> RegistrarKeepalive | None:
        if settings.keepalive_seconds <= 0:
            return None
        client = self.phone.sip
        return RegistrarKeepalive(settings.registrar_host, settings.registrar_port, settings.local_ip,
                                  settings.extension, client.registration, client.request_register, _utc_now,
                                  interval=settings.keepalive_seconds, misses=settings.keepalive_misses)

    def start(self) -> None:
        self.phone.start()
        if self.keepalive is not None:
            self.keepalive.start()

    def stop(self) -> None:
        self.channel.close()  # legs still queued stay claimed: the next leader replaces them
        if self.keepalive is not None:
            self.keepalive.stop()
        self.phone.stop()

    @property
    def registration(self) -> RegistrationStatus:
        return self.phone.registration

    def health(self) -> dict[str, object]:
        status = self.registration
        return {
            "registered": status.registered,
            "retrying_since": status.retrying_since.isoformat() if status.retrying_since else None,
            "last_error": status.last_error,
            "active_alert_calls": self.channel.active_calls,
            "queued_alert_calls": len(self.channel.queue),
        }

    def _on_call(self, call: HardenedCall) -> None:
        """A household's key: open the incident first (before any answer or prompt), then answer."""
        self.inbound_calls += 1
        self._emergency(CallerId(call.number, call.trust, call.source))
        call.answer()
        media = SipCallMedia(call)
        try:
            self.inbound_handler(media)
        except Exception:  # the incident is open already: a failing flow loses no emergency
            log.exception("inbound flow failed for %s; incident already open", call.number)
        finally:
            media.hang_up()

    def _on_unanswerable(self, caller: CallerId, reason: str) -> None:
        # The key was pressed even if the phone's INVITE was unusable: the incident opens anyway (an
        # unverified one waits for the operators, as any unverified press does).
        threading.Thread(target=self._emergency, args=(caller,), name="emergency", daemon=True).start()

    def _emergency(self, caller: CallerId) -> None:
        try:
            self.on_emergency(caller)
        except Exception:
            log.exception("could not open the incident for %s", mask_phone(caller.number))


def trusted_proxies(registrar: str, others: list[str]) -> frozenset[str]:
    """The addresses whose caller-trust header is believed: the registrar's and the configured ones, as
    IP addresses (a datagram's source is an address, not a name). A name that does not resolve now is
    left out, loudly: its presses are unverified rather than trusted on a guess."""
    found: set[str] = set()
    for host in (registrar, *others):
        try:
            found.update(str(info[4][0]) for info in socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_DGRAM))
        except OSError as exc:
            log.error("trusted proxy %s does not resolve (%s): its presses count as unverified", host, exc)
    return frozenset(found)


def _utc_now() -> datetime:
    return datetime.now(UTC)

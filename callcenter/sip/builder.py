"""The SIP channel package's builder: the phone (extension 995) as the call channel, when
``engine.call_channel`` is "sip" (registered in callcenter.bootstrap's channel registry).

A 995 call opens the incident on the INVITE, then runs the IVR flows (docs/ivr.md, docs/sip.md);
answered alert legs run the alert flow, which stores a neighbour's key as it is pressed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING

from callcenter.adapters.health import HealthProbe, SipRegistrationProbe
from callcenter.channels.builder import ChannelPackage, Trunk
from callcenter.channels.ports import AlertChannel
from callcenter.channels.stored import StoredLegs
from callcenter.domain.incident import Incident
from callcenter.domain.types import CallerTrust, Channel
from callcenter.ivr.engine_actions import EngineIncidentActions
from callcenter.ivr.handlers import inbound_handler
from callcenter.ivr.media import CallMedia, InboundCallHandler
from callcenter.service.callback import CallBack, CallBackTimeline
from callcenter.sip.callback import SipCallBack
from callcenter.sip.orphans import OrphanCanceller
from callcenter.sip.service import SipService

if TYPE_CHECKING:
    from callcenter.service.ports import LegRef

__all__ = ["SipChannels"]


class SipChannels(ChannelPackage):
    routable = True

    @property
    def carries(self) -> bool:
        return self.context.settings.engine.call_channel == "sip"

    @cached_property
    def service(self) -> SipService:
        """The phone and its alert channel, complete: calls open incidents through the (late) engine."""
        context, voice = self.context, self.context.voice
        return SipService(
            context.settings.sip, on_emergency=voice.caller_incidents.emergency_opener(self._key_press),
            inbound_handler=self._inbound, alert_handler=voice.alert_leg_handler,
            still_wanted=StoredLegs(context.store).still_pending, sink=context.outcomes,
            prepare=voice.announcement_warmer, holder=context.holder,
        )

    def _key_press(self, caller: str, trust: CallerTrust, *, source: str = "") -> Incident:
        return self.context.engine().key_press(caller, trust, source=source)

    def _inbound(self, media: CallMedia) -> None:
        self._inbound_flow(media)

    @cached_property
    def _inbound_flow(self) -> InboundCallHandler:
        """Built at the first 995 call: the flows' incident actions go to the engine, which exists by then."""
        context, ivr = self.context, self.context.settings.ivr
        # A failed incident command (e.g. storing a voice message) is logged by the flow runner; the call goes on.
        actions = EngineIncidentActions(context.engine(), ivr.recordings_path(context.settings.data_dir))
        return inbound_handler(actions, context.voice.caller_incidents, context.voice.prompt_library,
                               context.voice.ivr_flows, ivr.record_max_seconds)

    def channels(self) -> Mapping[Channel, AlertChannel]:
        return {Channel.CALL: self.service.channel} if self.carries else {}

    def start(self) -> None:
        if self.carries:
            self.service.start()

    def stop(self) -> None:
        if "service" in self.__dict__:
            self.service.stop()

    def probes(self) -> list[HealthProbe]:
        """Registration state; "not running" until the engine runtime built the phone (never built here)."""
        return [SipRegistrationProbe(lambda: self.__dict__.get("service"))] if self.carries else []

    def call_back(self) -> CallBack | None:
        if not self.carries:
            return None
        sip, timeline = self.context.settings.sip, CallBackTimeline(self.context.engine())
        return SipCallBack(self.service.phone, self.service.channel, timeline,
                           ring_timeout=sip.call_back_ring_timeout, max_seconds=sip.call_back_max_seconds)

    def orphans(self, provider: str) -> Callable[[Sequence[LegRef]], None] | None:
        """CANCELs for the alert calls a dead instance left ringing (callcenter/sip/orphans.py)."""
        if not self.carries:
            return None
        sip = self.context.settings.sip
        return OrphanCanceller(provider, sip.extension, sip.registrar_host, self.context.store.contact_of,
                               self.service.phone.send_from_alert_socket)

    def contact(self) -> str | None:
        """Published with this instance's heartbeat: where a survivor sends the CANCELs."""
        return self.service.phone.alert_contact if self.carries else None

    def trunk(self) -> Trunk | None:
        service: SipService | None = self.__dict__.get("service")
        return service.channel if service is not None else None

"""The Twilio channel package's builder: alert calls when ``engine.call_channel`` is "twilio", SMS
when ``engine.sms_channel`` is "twilio", the call path behind SIP when ``twilio.enabled`` and
``twilio.call_from`` are set, the webhooks when ``twilio.enabled`` (docs/twilio.md).

Registered in callcenter.bootstrap's channel registry; Twilio's paths go through failover channels,
so config/channels.yaml decides which numbers they carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING

from callcenter.channels.builder import ChannelPackage
from callcenter.channels.failover import failover_channel
from callcenter.channels.ports import AlertChannel, FailoverPath
from callcenter.domain.types import Channel
from callcenter.service.callback import CallBack, CallBackTimeline
from callcenter.twilio import wiring
from callcenter.twilio.callback import CallBackWebhooks, build_call_back, callback_router
from callcenter.twilio.channels import TwilioCallChannel
from callcenter.twilio.client import TwilioApi
from callcenter.twilio.router import twilio_router
from callcenter.twilio.webhooks import TwilioWebhooks

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = ["TwilioChannels"]


class TwilioChannels(ChannelPackage):
    routable = True

    @cached_property
    def api(self) -> TwilioApi:
        return wiring.rest_api(self.context.settings.twilio)

    @cached_property
    def _call_path(self) -> TwilioCallChannel:
        context = self.context
        return wiring.call_channel(context.settings.twilio, self.api, context.settings.http.public_base_url,
                                   context.store)

    def channels(self) -> Mapping[Channel, AlertChannel]:
        context, engine = self.context, self.context.settings.engine
        found: dict[Channel, AlertChannel] = {}
        if engine.call_channel == "twilio":
            found[Channel.CALL] = self._failover(Channel.CALL, self._call_path)
        if engine.sms_channel == "twilio":
            sms = wiring.sms_channel(context.settings.twilio, self.api, context.settings.http.public_base_url,
                                     context.store)
            found[Channel.SMS] = self._failover(Channel.SMS, sms)
        return found

    def _failover(self, kind: Channel, path: FailoverPath) -> AlertChannel:
        channel = failover_channel(kind, self.context.routes(), {"twilio": path}, self.context.notes)
        channel.start()
        return channel

    def backups(self) -> Mapping[Channel, FailoverPath]:
        """Twilio calls behind another call path (SIP first, Twilio when registration is lost or the trunk
        answers 503, config/channels.yaml)."""
        twilio = self.context.settings.twilio
        return {Channel.CALL: self._call_path} if twilio.enabled and twilio.call_from else {}

    def routers(self) -> list[APIRouter]:
        settings = self.context.settings
        if not settings.twilio.enabled:
            return []
        check = wiring.signature_check(settings.twilio, settings.http.public_base_url)
        return [twilio_router(lambda: self.webhooks, check), callback_router(lambda: self.call_back_webhooks, check)]

    @cached_property
    def webhooks(self) -> TwilioWebhooks:
        context, settings = self.context, self.context.settings
        # Voice messages go where the SIP path keeps its recordings (ivr.recordings_dir).
        keeper = wiring.recording_keeper(settings.twilio, settings.ivr.recordings_path(settings.data_dir),
                                         context.engine())
        return wiring.webhooks(context.engine(), context.store, settings.http.public_base_url, context.zone(),
                               settings.directory.phone_policy(), context.voice.ivr_flows,
                               settings.twilio.prompt_base_url, keeper)

    @cached_property
    def call_back_webhooks(self) -> CallBackWebhooks:
        """Twilio's reports about operators' call-backs, written on the incident timeline."""
        return CallBackWebhooks(CallBackTimeline(self.context.engine()))

    def call_back(self) -> CallBack | None:
        settings = self.context.settings
        if settings.engine.call_channel != "twilio":
            return None
        return build_call_back(settings.twilio, settings.http.public_base_url,
                               CallBackTimeline(self.context.engine()))

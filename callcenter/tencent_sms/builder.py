"""The Tencent Cloud SMS channel package's builder: the SMS path when ``engine.sms_channel`` is "tencent"
or, with ``tencent_sms.enabled``, behind another (config/channels.yaml), and the status and reply
callbacks at ``/sms/tencent/<callback_token>/status`` and ``…/reply`` (docs/sms.md)."""

from __future__ import annotations

from collections.abc import Mapping

from callcenter.channels.sms_push import PushEndpoint
from callcenter.channels.template_package import TemplateSmsPackage
from callcenter.channels.template_sms import SmsGateway
from callcenter.settings import TencentSmsSettings
from callcenter.tencent_sms.push import RECEIVED, parse_reply, parse_reports

__all__ = ["TencentSmsChannels"]


class TencentSmsChannels(TemplateSmsPackage):
    provider = "tencent"
    push_kinds = ("status", "reply")

    @property
    def sms_settings(self) -> TencentSmsSettings:
        return self.context.settings.tencent_sms

    def gateway(self) -> SmsGateway:
        # The SDK is imported only by a process that sends through it (a CLI command or a process with
        # the provider off pays nothing for it: ~0.25 s and ~10 MiB for Aliyun's).
        from callcenter.tencent_sms.gateway import TencentGateway, make_client

        settings = self.sms_settings
        client = make_client(settings.secret_id, settings.secret_key.get_secret_value(), settings.region,
                             settings.endpoint, settings.protocol, settings.request_timeout_seconds)
        return TencentGateway(client, settings.sdk_app_id, self.provider)

    def push_endpoints(self) -> Mapping[str, PushEndpoint]:
        return {
            "status": PushEndpoint(lambda body: [self.path.ledger.settle(r) for r in parse_reports(body)], RECEIVED,
                                   "status callback: delivery reports"),
            "reply": PushEndpoint(lambda body: self.inbox.take(parse_reply(body)), RECEIVED, "reply callback"),
        }

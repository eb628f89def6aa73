"""The Aliyun SMS channel package's builder: the SMS path when ``engine.sms_channel`` is "aliyun" or,
with ``aliyun_sms.enabled``, behind another (config/channels.yaml), and the SmsReport / SmsUp push
endpoints at ``/sms/aliyun/<callback_token>/report`` and ``…/reply`` (docs/sms.md)."""

from __future__ import annotations

from collections.abc import Mapping

from callcenter.aliyun_sms.push import RECEIVED, parse_replies, parse_reports
from callcenter.channels.sms_push import PushEndpoint
from callcenter.channels.template_package import TemplateSmsPackage
from callcenter.channels.template_sms import SmsGateway
from callcenter.settings import AliyunSmsSettings

__all__ = ["AliyunSmsChannels"]


class AliyunSmsChannels(TemplateSmsPackage):
    provider = "aliyun"
    push_kinds = ("report", "reply")

    @property
    def sms_settings(self) -> AliyunSmsSettings:
        return self.context.settings.aliyun_sms

    def gateway(self) -> SmsGateway:
        # The SDK is imported only by a process that sends through it (a CLI command or a process with
        # the provider off pays nothing for it: ~0.25 s and ~10 MiB for Aliyun's).
        from callcenter.aliyun_sms.gateway import AliyunGateway, make_client

        settings = self.sms_settings
        client = make_client(settings.access_key_id, settings.access_key_secret.get_secret_value(), settings.region,
                             settings.endpoint, settings.protocol, settings.request_timeout_seconds)
        return AliyunGateway(client, self.provider)

    def push_endpoints(self) -> Mapping[str, PushEndpoint]:
        return {
            "report": PushEndpoint(lambda body: [self.path.ledger.settle(r) for r in parse_reports(body)], RECEIVED,
                                   "SmsReport: delivery reports"),
            "reply": PushEndpoint(lambda body: self.inbox.take(parse_replies(body)), RECEIVED, "SmsUp: replies"),
        }

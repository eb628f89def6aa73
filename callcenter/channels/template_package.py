"""What every template SMS provider's channel package builds alike (Aliyun, Tencent): a provider's
builder subclasses ``TemplateSmsPackage`` and names its settings, its gateway and its pushes.

- ``channels()``: the provider's path when ``engine.sms_channel`` names it (the composition root puts
  it behind a failover channel with the other packages' paths, routed by config/channels.yaml);
- ``backups()``: the same path behind another package's when the provider is enabled;
- ``start()``/``stop()``: the fallback poll, after taking back the messages a previous run left
  waiting for a report;
- ``routers()``: the push endpoints (callcenter.channels.sms_push) when the provider is enabled.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

from callcenter.channels.builder import ChannelPackage
from callcenter.channels.limits import SendLimits, Window
from callcenter.channels.ports import AlertChannel, FailoverPath
from callcenter.channels.replies import SmsReplies
from callcenter.channels.sms_ledger import ReportLedger, stored_submissions
from callcenter.channels.sms_push import PushEndpoint, PushGate, ReplyInbox, push_router
from callcenter.channels.sms_templates import load_template_books
from callcenter.channels.stored import StoredAlerts
from callcenter.channels.template_sms import SmsGateway, SmsRetry, TemplateSmsChannel
from callcenter.domain.types import Channel

if TYPE_CHECKING:
    from fastapi import APIRouter

    from callcenter.settings import CloudSmsSettings

__all__ = ["TemplateSmsPackage", "retry_of"]


def retry_of(settings: CloudSmsSettings) -> SmsRetry:
    return SmsRetry(settings.down_retries, settings.backoff_seconds, settings.recheck_seconds,
                    settings.throttles_before_down, settings.report_wait_seconds, settings.poll_seconds,
                    settings.report_silence_seconds)


class TemplateSmsPackage(ChannelPackage):
    routable = True
    routed_alone = True  # a bare path: the composition root puts it behind a failover channel
    provider: ClassVar[str]
    push_kinds: ClassVar[tuple[str, ...]]

    # -- what a provider names -------------------------------------------------------------

    @property
    def sms_settings(self) -> CloudSmsSettings:
        raise NotImplementedError

    def gateway(self) -> SmsGateway:
        raise NotImplementedError

    def push_endpoints(self) -> Mapping[str, PushEndpoint]:
        raise NotImplementedError

    # -- built alike -----------------------------------------------------------------------

    @cached_property
    def path(self) -> TemplateSmsChannel:
        settings = self.sms_settings
        book = load_template_books(settings.templates_file)[self.provider]
        limits = SendLimits(self.provider, (Window(settings.per_number_per_day, 86400.0),),
                            (Window(settings.per_account_per_second, 1.0),))
        ledger = ReportLedger(self.provider, self.context.outcomes)
        return TemplateSmsChannel(self.gateway(), book, limits, ledger, retry_of(settings), self.inbox.take)

    @cached_property
    def inbox(self) -> ReplyInbox:
        context = self.context
        return ReplyInbox(self.provider, lambda: SmsReplies(
            context.engine(), StoredAlerts(context.store), context.zone(),
            context.settings.directory.phone_policy(), provider=self.provider))

    def channels(self) -> Mapping[Channel, AlertChannel]:
        return {Channel.SMS: self.path} if self.context.settings.engine.sms_channel == self.provider else {}

    def backups(self) -> Mapping[Channel, FailoverPath]:
        enabled = self.sms_settings.enabled and self.context.settings.engine.sms_channel != self.provider
        return {Channel.SMS: self.path} if enabled else {}

    def start(self) -> None:
        if self.sms_settings.enabled or "path" in self.__dict__:
            now, wall = time.monotonic(), datetime.now(UTC)
            self.path.ledger.restore(stored_submissions(
                self.context.store, self.provider, now, lambda at: now - (wall - at).total_seconds()))
            self.path.start()

    def stop(self) -> None:
        if "path" in self.__dict__:
            self.path.stop()

    def routers(self) -> list[APIRouter]:
        settings = self.sms_settings
        if not settings.enabled:
            return []
        gate = PushGate(settings.callback_token.get_secret_value(), settings.push_sources,
                        self.context.settings.http.trusted_proxies)
        return [push_router(self.provider, gate, self.push_endpoints, self.push_kinds)]

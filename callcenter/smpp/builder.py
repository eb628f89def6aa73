"""The SMPP channel package's builder: SMS over an SMPP 3.4 bind to a carrier's SMSC (docs/sms.md).

Alert texts when ``engine.sms_channel`` is "smpp"; the SMS path named "smpp" in
config/channels.yaml behind another package's SMS when ``smpp.enabled``. One session (one bind)
per process, started with the engine runtime and unbound when it stops; receipts go to the
engine's leg reports, replies to ``SmsReplies(provider="smpp")``.

Registered in callcenter.bootstrap's channel registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property

from callcenter.channels.builder import ChannelPackage
from callcenter.channels.limits import SendLimits, Window
from callcenter.channels.ports import AlertChannel, FailoverPath
from callcenter.channels.replies import SmsReplies
from callcenter.channels.stored import StoredAlerts
from callcenter.domain.types import Channel
from callcenter.settings import SmppSettings
from callcenter.smpp.channel import Addressing, PathRules, SmppSmsChannel
from callcenter.smpp.session import Deliver, SessionConfig, SmppSession

__all__ = ["SmppChannels", "send_limits", "session_config"]


def session_config(settings: SmppSettings) -> SessionConfig:
    return SessionConfig(settings.host, settings.port, settings.system_id, settings.password.get_secret_value(),
                         settings.system_type, settings.window, settings.throughput,
                         settings.enquire_link_seconds, settings.reconnect_seconds, settings.reconnect_max_seconds,
                         outbox_size=settings.outbox_size)


def send_limits(settings: SmppSettings) -> SendLimits:
    per_number = [Window(settings.per_number_per_hour, 3600.0)] if settings.per_number_per_hour else []
    per_account = [Window(settings.per_account_per_second, 1.0)] if settings.per_account_per_second else []
    return SendLimits("smpp", per_number, per_account)


class SmppChannels(ChannelPackage):
    routable = True
    routed_alone = True  # config/channels.yaml routes it (no SMS to a landline) and watches its health

    @cached_property
    def path(self) -> SmppSmsChannel:
        settings, context = self.context.settings.smpp, self.context
        rules = PathRules(settings.bind_wait_seconds, settings.submit_timeout_seconds, settings.report_seconds,
                          settings.recheck_seconds)
        config = session_config(settings)

        def session(on_deliver: Callable[[Deliver], None]) -> SmppSession:
            return SmppSession(config, on_deliver)

        def find_leg(message_id: str) -> tuple[str, str] | None:
            return context.store.submitted_leg_by_ref("smpp", message_id)

        return SmppSmsChannel(session, Addressing(settings.source_addr, settings.source_ton, settings.source_npi),
                              context.outcomes, lambda: self.replies, send_limits(settings), find_leg, rules)

    @cached_property
    def replies(self) -> SmsReplies:
        """Read when the first reply arrives: the engine exists by then (ChannelContext.engine)."""
        context = self.context
        return SmsReplies(context.engine(), StoredAlerts(context.store), context.zone(),
                          context.settings.directory.phone_policy(), provider="smpp")

    def _wanted(self) -> bool:
        return self.context.settings.engine.sms_channel == "smpp" or self.context.settings.smpp.enabled

    def channels(self) -> Mapping[Channel, AlertChannel]:
        """A bare path: the composition root puts it behind a failover channel (``routed_alone``)."""
        return {Channel.SMS: self.path} if self.context.settings.engine.sms_channel == "smpp" else {}

    def backups(self) -> Mapping[Channel, FailoverPath]:
        """The SMPP path behind another package's SMS (config/channels.yaml orders them)."""
        settings = self.context.settings
        return {Channel.SMS: self.path} if settings.smpp.enabled and settings.engine.sms_channel != "smpp" else {}

    def start(self) -> None:
        if self._wanted():
            self.path.start()

    def stop(self) -> None:
        if "path" in self.__dict__:
            self.path.stop()

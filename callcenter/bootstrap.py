"""The composition root: the one place that turns settings into wired components."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, cast

from sqlalchemy import Engine

from callcenter.accounts.ratelimit import LoginRateLimiter
from callcenter.accounts.service import AccountService
from callcenter.adapters.clock import SystemClock
from callcenter.adapters.events import EventBus
from callcenter.adapters.health import DatabaseProbe, HealthProbe, OutageProbe, OutageView, SchedulerProbe
from callcenter.adapters.runtime import EngineRuntime
from callcenter.adapters.scheduler import ApschedulerTimers, Leadership, new_scheduler
from callcenter.aliyun_sms.builder import AliyunSmsChannels
from callcenter.channels.builder import ChannelContext, ChannelPackage, LateSink, Trunk
from callcenter.channels.failover import FailoverChannel, failover_channel
from callcenter.channels.ports import FailoverPath
from callcenter.channels.routes import ChannelRoutes, load_routes
from callcenter.channels.simulated import RecordingChannels, SimulatedChannels
from callcenter.db.account_repo import SqlAccounts
from callcenter.db.console_queries import ConsoleQueries
from callcenter.db.directory_edits import DirectoryEdits
from callcenter.db.directory_repo import SqlDirectory
from callcenter.db.engine import make_engine, migrate
from callcenter.db.flood_queries import FloodQueries
from callcenter.db.incident_repo import SqlIncidentStore
from callcenter.db.press_ledger_repo import SqlPressRecords
from callcenter.db.snapshot import DirectorySnapshot, database_unavailable
from callcenter.domain.messages import MessageTemplates
from callcenter.domain.policy import EscalationPolicy
from callcenter.domain.types import Channel, LegPurpose
from callcenter.ivr.caller_incidents import CallerIncidents
from callcenter.ivr.flowfile import FlowSet, load_flows
from callcenter.ivr.handlers import alert_handler, warm_alert_audio
from callcenter.ivr.media import AnsweredLegHandler
from callcenter.ivr.prompts import PromptLibrary
from callcenter.ivr.speech import EspeakSynthesizer
from callcenter.ivr.warmer import AnnouncementWarmer
from callcenter.policies import load_policy, load_templates
from callcenter.service.callback import CallBack
from callcenter.service.engine import EnginePorts, EngineRules, IncidentEngine
from callcenter.service.guard import GuardedCallBack, GuardedChannel, KnownNumbers, operator_phone_set
from callcenter.service.leg_reports import LegReports
from callcenter.service.mass_event import MassEventBoard
from callcenter.service.outage import DegradedMode
from callcenter.service.ports import AlertChannel, LegRef
from callcenter.service.press_ledger import PressLedger
from callcenter.service.snapshot import FallbackDirectory
from callcenter.service.spool import PressSpool
from callcenter.service.write_turns import WriteTurns
from callcenter.settings import Settings
from callcenter.sip.builder import SipChannels
from callcenter.sip.service import SipService
from callcenter.smpp.builder import SmppChannels
from callcenter.tencent_sms.builder import TencentSmsChannels
from callcenter.twilio.builder import TwilioChannels

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = ["CHANNEL_BUILDERS", "ROUTE_PATHS", "ConsoleContainer", "Container", "build"]

# The channel packages by kind, as engine.call_channel and engine.sms_channel name them. Adding a
# channel is its package, its settings and one line here (docs/architecture.md, "How to add a channel").
CHANNEL_BUILDERS: dict[str, type[ChannelPackage]] = {
    "simulated": SimulatedChannels,
    "recording": RecordingChannels,
    "sip": SipChannels,
    "twilio": TwilioChannels,
    "aliyun": AliyunSmsChannels,
    "tencent": TencentSmsChannels,
    "smpp": SmppChannels,
}

# The paths config/channels.yaml may name: the failover paths this composition root can build.
ROUTE_PATHS = frozenset(kind for kind, builder in CHANNEL_BUILDERS.items() if builder.routable)


@dataclass
class Container:
    settings: Settings
    _closed: bool = field(default=False, init=False, repr=False)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def directory(self) -> SqlDirectory:
        return SqlDirectory(self.engine, self.settings.directory.phone_policy())

    @cached_property
    def incident_store(self) -> SqlIncidentStore:
        return SqlIncidentStore(self.engine)

    @cached_property
    def policy(self) -> EscalationPolicy:
        return load_policy(self.settings.engine.policy_file)

    @cached_property
    def templates(self) -> MessageTemplates:
        return load_templates(self.settings.engine.messages_file)

    @cached_property
    def events(self) -> EventBus:
        return EventBus()

    @cached_property
    def press_ledger(self) -> PressLedger:
        """Press limits and source bans, as the database kept them through the last restart."""
        return PressLedger.restored(SqlPressRecords(self.engine), SystemClock().now())

    @cached_property
    def holder(self) -> str:
        """This process in leg claims and leases: instance name plus a boot id."""
        return f"{self.settings.engine.instance_name}#{secrets.token_hex(3)}"

    @cached_property
    def runtime(self) -> EngineRuntime:
        scheduler = new_scheduler()
        timers = ApschedulerTimers(scheduler)
        channels = self._channels()
        incidents = IncidentEngine(
            EnginePorts(store=self.incident_store, directory=self.resilient_directory, channels=self._guarded(channels),
                        timers=timers, clock=SystemClock(), events=self.events),
            EngineRules(policy=self.policy, templates=self.templates,
                        phone_policy=self.settings.directory.phone_policy()),
            holder=self.holder,
            executor=ThreadPoolExecutor(self.settings.engine.dispatch_workers, thread_name_prefix="dispatch"),
            outage=self.degraded_mode,
            write_turns=WriteTurns(1 if self.engine.dialect.name == "sqlite" else 8),
            orphans=self._orphan_canceller(channels[Channel.CALL].name),
            presses=self.press_ledger,
            mass_events=MassEventBoard(self.policy, link=self.settings.http.public_base_url.rstrip("/") + "/",
                                       can_text=_summary_reach(channels[Channel.SMS])),
        )
        # Channels report later and go on; the reports are written in batches per incident
        # (callcenter/service/leg_reports.py).
        reports = LegReports(incidents.leg_outcomes, writers=2 if self.engine.dialect.name == "sqlite" else 4)
        lease, packages = self.settings.engine.lease_seconds, list(self.channel_packages.values())
        leadership = Leadership(self.incident_store, SystemClock(), self.holder, ttl=timedelta(seconds=lease),
                                contact=lambda: next(filter(None, (p.contact() for p in packages)), None))
        tick, snapshot = lease / 3, self.directory_snapshot
        # The runtime keeps the directory snapshot fresh (checked every snapshot_check_seconds).
        return EngineRuntime(incidents, scheduler, timers, leadership, lease_seconds=tick,
                             sweep_seconds=min(2.0, tick), reports=reports, channels=packages,
                             refresh_snapshot=lambda: snapshot.refresh_if_changed(datetime.now(UTC)),
                             snapshot_check_seconds=self.settings.outage.snapshot_check_seconds)

    def _orphan_canceller(self, provider: str) -> Callable[[Sequence[LegRef]], None] | None:
        """How a survivor cancels alert calls a dead instance left ringing, if the call channel can."""
        return self._package_for(Channel.CALL).orphans(provider)

    # -- channels: the registry's packages (callcenter/channels/builder.py) ---------------

    @cached_property
    def channel_packages(self) -> dict[str, ChannelPackage]:
        """Every registered channel package; each builds only what the settings ask of it, when asked."""
        context = ChannelContext(self.settings, lambda: self.incident_store, self.holder, LateSink(self._leg_reports),
                                 lambda: self.channel_routes, self, lambda: self.templates.zone(),
                                 self._late_engine)
        return {kind: builder(context) for kind, builder in CHANNEL_BUILDERS.items()}

    def _late_engine(self) -> IncidentEngine:
        """The one late binding. The engine needs the channels (to send legs) and the channels need the
        engine (a 995 call opens an incident, a key pressed in a call or a webhook is stored, a call-back
        is noted): the packages are built first and given this, which they call only when such a thing
        arrives, after the runtime was built (a webhook before it builds it, as it always did)."""
        return self.runtime.engine

    def _leg_reports(self) -> LegReports:
        """Where channels' outcomes go: the runtime's batched reports (it exists before any leg is sent)."""
        reports = self.runtime.reports
        assert reports is not None  # built with the runtime, above
        return reports

    def _package_for(self, kind: Channel) -> ChannelPackage:
        return self.channel_packages[self._kind_name(kind)]

    def _kind_name(self, kind: Channel) -> str:
        engine = self.settings.engine
        return engine.call_channel if kind is Channel.CALL else engine.sms_channel

    def _channels(self) -> dict[Channel, AlertChannel]:
        """Each kind from the package the settings name for it; a failover path goes first, with the
        paths other packages offer behind it (SIP first, Twilio when registration is lost or the trunk
        answers 503, config/channels.yaml)."""
        named = {kind: self._kind_name(kind) for kind in (Channel.CALL, Channel.SMS)}
        carried = {name: self.channel_packages[name].channels() for name in dict.fromkeys(named.values())}
        return {kind: self._behind_failover(kind, name, carried[name][kind]) for kind, name in named.items()}

    def _behind_failover(self, kind: Channel, name: str, channel: AlertChannel) -> AlertChannel:
        package = self.channel_packages[name]
        backups = {other: path for other, offering in self.channel_packages.items()
                   if other != name and (path := offering.backups().get(kind)) is not None}
        if not package.routable or not (backups or package.routed_alone):
            return channel
        # A routable package's channels are failover paths (ChannelPackage.routable); one that is a
        # failover channel already (Twilio's SMS, over its one path) gives its paths instead, so that
        # one failover channel holds them all (a FailoverChannel is no path: it has no health).
        own = {name: cast(FailoverPath, channel)}
        if isinstance(channel, FailoverChannel):
            channel.stop()
            own = dict(channel.paths)
        failover = failover_channel(kind, self.channel_routes, {**own, **backups}, package.context.notes)
        failover.start()  # its health monitor
        return failover

    def channel_routers(self) -> list[APIRouter]:
        """The channels' HTTP routes (webhooks); their handlers are built at the first request."""
        return [router for package in self.channel_packages.values() for router in package.routers()]

    def trunk(self) -> Trunk | None:
        """The SIP trunk the flood banner shows, if this process built one (never builds it)."""
        return next(filter(None, (p.trunk() for p in self.channel_packages.values())), None)

    @property
    def sip_service(self) -> SipService:
        """The SIP package's phone and alert channel (tests and benchmarks reach the phone through it)."""
        package = self.channel_packages["sip"]
        assert isinstance(package, SipChannels)
        return package.service

    # -- database outage: directory snapshot and press spool (docs/architecture.md) ---------

    @cached_property
    def outage_dir(self) -> Path:
        return self.settings.outage.path(self.settings.data_dir, self.settings.engine.instance_name)

    @cached_property
    def directory_snapshot(self) -> DirectorySnapshot:
        return DirectorySnapshot(self.outage_dir / "snapshot", self.engine, self.settings.directory.phone_policy(),
                                 self.settings.outage.snapshot_max_age_seconds)

    @cached_property
    def resilient_directory(self) -> FallbackDirectory:
        """The directory for key presses and the toll-fraud guard: the snapshot answers when the database cannot."""
        return FallbackDirectory(self.directory, self.directory_snapshot)

    @cached_property
    def degraded_mode(self) -> DegradedMode:
        return DegradedMode(PressSpool(self.outage_dir / "spool"), self.incident_store, self.policy, SystemClock(),
                            self.holder, database_unavailable)

    def outage_view(self, database_up: bool) -> OutageView:
        """Degraded mode as health and metrics show it; parts not built in this process stay empty."""
        outage = self.__dict__.get("degraded_mode")
        snapshot = self.__dict__.get("directory_snapshot")
        age = snapshot.age_seconds(datetime.now(UTC)) if snapshot is not None else None
        return OutageView(database_up, outage.state() if outage is not None else None, age,
                          snapshot.households if snapshot is not None else 0)

    @cached_property
    def known_numbers(self) -> KnownNumbers:
        """The toll-fraud guard's question: is this number in the directory or an operator's phone?"""
        guard, policy = self.settings.guard, self.settings.directory.phone_policy()
        return KnownNumbers(self.resilient_directory, operator_phone_set(guard.operator_phones, policy), policy,
                            SystemClock(), timedelta(seconds=guard.known_number_cache_seconds))

    def _guarded(self, channels: dict[Channel, AlertChannel]) -> dict[Channel, AlertChannel]:
        """Every channel behind the toll-fraud guard: the one choke point before any carrier."""
        return {kind: GuardedChannel(channel, self.known_numbers.refusal) for kind, channel in channels.items()}

    @cached_property
    def channel_routes(self) -> ChannelRoutes:
        """Which path carries which leg (config/channels.yaml, at ``twilio.routes_file``)."""
        return load_routes(self.settings.twilio.routes_file, ROUTE_PATHS)

    @cached_property
    def ivr_flows(self) -> FlowSet:
        return load_flows(self.settings.ivr.flows_dir)

    @cached_property
    def prompt_library(self) -> PromptLibrary:
        ivr, data_dir = self.settings.ivr, self.settings.data_dir
        return PromptLibrary(EspeakSynthesizer(ivr.voice, speed=ivr.speech_rate), ivr.cache_path(data_dir),
                             ivr.prompts_path(data_dir), self.ivr_flows.prompts())

    @cached_property
    def alert_leg_handler(self) -> AnsweredLegHandler:
        """What the call channel runs on an answered alert leg: 1 or 2 is reported at the key press."""
        return alert_handler(self.prompt_library, self.ivr_flows)

    @cached_property
    def announcement_warmer(self) -> AnnouncementWarmer:
        """Renders each incident's alert announcement while its first calls ring (callcenter/ivr/warmer.py)."""
        return AnnouncementWarmer(lambda order: warm_alert_audio(self.prompt_library, self.ivr_flows, order))

    @cached_property
    def caller_incidents(self) -> CallerIncidents:
        """The call channel remembers each inbound call's incident here; the inbound handler looks it up."""
        return CallerIncidents()

    def init_db(self) -> None:
        migrate(self.settings.database_url)

    def close(self) -> None:
        """Stops what runs and lets go of what is held; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        if "runtime" in self.__dict__:
            self.runtime.stop()
        if "announcement_warmer" in self.__dict__:
            self.announcement_warmer.close()
        if "directory" in self.__dict__:
            self.directory.close()
        if "directory_snapshot" in self.__dict__:
            self.directory_snapshot.close()
        if "engine" in self.__dict__:
            self.engine.dispose()


class ConsoleContainer(Container):
    """The container plus what the operators' console needs: accounts, read queries, probes, call-back."""

    @cached_property
    def accounts(self) -> AccountService:
        console = self.settings.console
        limiter = LoginRateLimiter(console.failed_logins_before_delay,
                                   timedelta(seconds=console.max_login_delay_seconds),
                                   console.max_failed_logins_per_address,
                                   timedelta(minutes=console.failed_login_window_minutes))
        return AccountService(SqlAccounts(self.engine), SystemClock(), limiter,
                              timedelta(hours=console.session_hours))

    @cached_property
    def console_queries(self) -> ConsoleQueries:
        return ConsoleQueries(self.engine)

    @cached_property
    def flood_queries(self) -> FloodQueries:
        """The flood banner's counts, shared by every console of this process."""
        return FloodQueries(self.engine, self.settings.console.flood_banner_fresh_seconds)

    @cached_property
    def directory_edits(self) -> DirectoryEdits:
        return DirectoryEdits(self.engine)

    @cached_property
    def call_back(self) -> CallBack:
        """Click-to-call through the configured call channel, always behind the toll-fraud guard."""
        return GuardedCallBack(self._call_back_channel(), self.known_numbers)

    def _call_back_channel(self) -> CallBack:
        call_back = self._package_for(Channel.CALL).call_back()
        assert call_back is not None, f"{self.settings.engine.call_channel} builds no call-back"
        return call_back

    @cached_property
    def health_probes(self) -> list[HealthProbe]:
        """The process's own probes, then each channel package's (SIP registration state)."""
        database = DatabaseProbe(lambda: self.engine)
        probes: list[HealthProbe] = [database, SchedulerProbe(lambda: self.__dict__.get("runtime")),
                                     OutageProbe(lambda: self.outage_view(database.check().ok))]
        return probes + [probe for package in self.channel_packages.values() for probe in package.probes()]


def build(settings: Settings) -> ConsoleContainer:
    return ConsoleContainer(settings)


def _summary_reach(sms: AlertChannel) -> Callable[[str], bool]:
    """Whether a mass-event summary SMS can reach a phone: the routes list a path for it (a landline
    has none), or the SMS channel is not routed (the simulator reaches every number)."""
    if isinstance(sms, FailoverChannel):
        return functools.partial(sms.reaches, purpose=LegPurpose.SUMMARY)
    return lambda phone: True


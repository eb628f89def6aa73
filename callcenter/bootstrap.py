"""The composition root: the one place that turns settings into wired components."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine

from callcenter.accounts.ratelimit import LoginRateLimiter
from callcenter.accounts.service import AccountService
from callcenter.adapters.clock import SystemClock
from callcenter.adapters.events import EventBus
from callcenter.adapters.health import (
    DatabaseProbe,
    HealthProbe,
    OutageProbe,
    OutageView,
    SchedulerProbe,
    SipRegistrationProbe,
)
from callcenter.adapters.recording import PlacementLog, recording_phones
from callcenter.adapters.runtime import EngineRuntime
from callcenter.adapters.scheduler import ApschedulerTimers, Leadership, new_scheduler
from callcenter.adapters.simulated import SimulatedPhones
from callcenter.channels.failover import attach_notes, failover_channel
from callcenter.channels.ports import FailoverPath
from callcenter.channels.routes import ChannelRoutes, load_routes
from callcenter.channels.stored import StoredLegs
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
from callcenter.domain.types import CallerId, Channel
from callcenter.ivr.caller_incidents import CallerIncidents
from callcenter.ivr.engine_actions import EngineIncidentActions
from callcenter.ivr.flowfile import FlowSet, load_flows
from callcenter.ivr.handlers import alert_handler, inbound_handler, warm_alert_audio
from callcenter.ivr.media import AnsweredLegHandler
from callcenter.ivr.prompts import PromptLibrary
from callcenter.ivr.speech import EspeakSynthesizer
from callcenter.ivr.warmer import AnnouncementWarmer
from callcenter.policies import load_policy, load_templates
from callcenter.service.callback import CallBack, CallBackTimeline, SimulatedCallBack
from callcenter.service.engine import EnginePorts, EngineRules, IncidentEngine
from callcenter.service.guard import GuardedCallBack, GuardedChannel, KnownNumbers, operator_phone_set
from callcenter.service.leg_reports import LegReports
from callcenter.service.mass_event import MassEventBoard
from callcenter.service.outage import DegradedMode
from callcenter.service.ports import AlertChannel
from callcenter.service.press_ledger import PressLedger
from callcenter.service.snapshot import FallbackDirectory
from callcenter.service.spool import PressSpool
from callcenter.service.write_turns import WriteTurns
from callcenter.settings import Settings
from callcenter.sip.callback import SipCallBack
from callcenter.sip.orphans import OrphanCanceller
from callcenter.sip.service import SipService
from callcenter.twilio import wiring as twilio_wiring
from callcenter.twilio.callback import CallBackWebhooks
from callcenter.twilio.callback import build_call_back as build_twilio_call_back
from callcenter.twilio.client import TwilioApi
from callcenter.twilio.recordings import RecordingKeeper
from callcenter.twilio.webhooks import TwilioWebhooks
from contacts.phones import mask_phone

# The paths config/channels.yaml may name: the failover paths this composition root can build.
ROUTE_PATHS = frozenset({"sip", "twilio"})


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
        sip = self.settings.engine.call_channel == "sip"  # also when it is a path behind the failover channel
        incidents = IncidentEngine(
            EnginePorts(store=self.incident_store, directory=self.resilient_directory, channels=self._guarded(channels),
                        timers=timers, clock=SystemClock(), events=self.events),
            EngineRules(policy=self.policy, templates=self.templates,
                        phone_policy=self.settings.directory.phone_policy()),
            holder=self.holder,
            executor=ThreadPoolExecutor(self.settings.engine.dispatch_workers, thread_name_prefix="dispatch"),
            outage=self.degraded_mode,
            write_turns=WriteTurns(1 if self.engine.dialect.name == "sqlite" else 8),
            orphans=self._orphan_canceller(channels[Channel.CALL].name) if sip else None,
            presses=self.press_ledger,
            mass_events=MassEventBoard(self.policy, link=self.settings.http.public_base_url.rstrip("/") + "/"),
        )
        # Channels report later and go on; the reports are written in batches per incident
        # (callcenter/service/leg_reports.py).
        reports = LegReports(incidents.leg_outcomes, writers=2 if self.engine.dialect.name == "sqlite" else 4)
        for channel in channels.values():
            if isinstance(channel, SimulatedPhones):
                channel.sink = reports
        attach_notes(channels, incidents)
        lease = self.settings.engine.lease_seconds
        leadership = Leadership(self.incident_store, SystemClock(), self.holder, ttl=timedelta(seconds=lease))
        tick = lease / 3
        if sip:
            self.sip_service.channel.sink = reports
            self.sip_service.channel.holder = self.holder
            leadership.contact = lambda: self.sip_service.phone.alert_contact
            self._wire_sip_flows(incidents)
            return self._with_snapshot(_RuntimeWithSip(incidents, scheduler, timers, leadership, lease_seconds=tick,
                                                       sweep_seconds=min(2.0, tick), sip=self.sip_service,
                                                       reports=reports))
        return self._with_snapshot(EngineRuntime(incidents, scheduler, timers, leadership, lease_seconds=tick,
                                                 sweep_seconds=min(2.0, tick), reports=reports))

    def _orphan_canceller(self, provider: str) -> OrphanCanceller:
        """CANCELs for the alert calls a dead instance left ringing (callcenter/sip/orphans.py)."""
        sip = self.settings.sip
        return OrphanCanceller(provider, sip.extension, sip.registrar_host, self.incident_store.contact_of,
                               self.sip_service.phone.send_from_alert_socket)

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

    def _with_snapshot(self, runtime: EngineRuntime) -> EngineRuntime:
        """The runtime keeps the directory snapshot fresh (checked every snapshot_check_seconds)."""
        snapshot = self.directory_snapshot
        runtime.refresh_snapshot = lambda: snapshot.refresh_if_changed(datetime.now(UTC))
        runtime.snapshot_check_seconds = self.settings.outage.snapshot_check_seconds
        return runtime

    def outage_view(self, database_up: bool) -> OutageView:
        """Degraded mode as health and metrics show it; parts not built in this process stay empty."""
        outage = self.__dict__.get("degraded_mode")
        snapshot = self.__dict__.get("directory_snapshot")
        age = snapshot.age_seconds(datetime.now(UTC)) if snapshot is not None else None
        return OutageView(database_up, outage.state() if outage is not None else None, age,
                          snapshot.households if snapshot is not None else 0)

    @cached_property
    def sip_service(self) -> SipService:
        """The SIP phone (extension 995) and its alert channel; calls wait for the engine to exist.
        Answered alert legs run the alert flow, which stores a neighbour's key as it is pressed."""
        return SipService(self.settings.sip, on_emergency=_engine_not_ready, alert_handler=self.alert_leg_handler,
                          still_wanted=StoredLegs(self.incident_store).still_pending)

    def _wire_sip_flows(self, incidents: IncidentEngine) -> None:
        """995 calls open the incident on the INVITE, then run the IVR flows (docs/ivr.md, docs/sip.md)."""
        sip, ivr = self.sip_service, self.settings.ivr
        sip.on_emergency = self.caller_incidents.emergency_opener(incidents.key_press)
        # A failed incident command (e.g. storing a voice message) is logged by the flow runner; the call goes on.
        actions = EngineIncidentActions(incidents, ivr.recordings_path(self.settings.data_dir))
        sip.inbound_handler = inbound_handler(actions, self.caller_incidents, self.prompt_library, self.ivr_flows,
                                              ivr.record_max_seconds)
        sip.channel.prepare = self.announcement_warmer

    @cached_property
    def known_numbers(self) -> KnownNumbers:
        """The toll-fraud guard's question: is this number in the directory or an operator's phone?"""
        guard, policy = self.settings.guard, self.settings.directory.phone_policy()
        return KnownNumbers(self.resilient_directory, operator_phone_set(guard.operator_phones, policy), policy,
                            SystemClock(), timedelta(seconds=guard.known_number_cache_seconds))

    def _guarded(self, channels: dict[Channel, AlertChannel]) -> dict[Channel, AlertChannel]:
        """Every channel behind the toll-fraud guard: the one choke point before any carrier."""
        return {kind: GuardedChannel(channel, self.known_numbers.refusal) for kind, channel in channels.items()}

    def _channels(self) -> dict[Channel, AlertChannel]:
        engine = self.settings.engine
        scale = engine.simulated_time_scale
        channels: dict[Channel, AlertChannel] = {
            Channel.CALL: self._call_channel(scale),
            Channel.SMS: SimulatedPhones(Channel.SMS, name="simulated-sms", time_scale=scale),
        }
        kinds = {Channel.CALL: engine.call_channel, Channel.SMS: engine.sms_channel}
        if engine.placement_log is not None:
            log = PlacementLog(engine.placement_log)
            for channel, kind in kinds.items():
                if kind == "recording":
                    channels[channel] = recording_phones(channel, log, scale)
        channels.update(self._twilio_channels())
        return channels

    def _call_channel(self, scale: float) -> AlertChannel:
        if self.settings.engine.call_channel == "sip":
            return self.sip_service.channel
        return SimulatedPhones(Channel.CALL, time_scale=scale)

    def _twilio_channels(self) -> dict[Channel, AlertChannel]:
        """Twilio paths behind failover channels (the SIP path joins them as "sip" when wired)."""
        twilio, engine = self.settings.twilio, self.settings.engine
        base = self.settings.http.public_base_url
        found: dict[Channel, AlertChannel] = {}
        if engine.call_channel == "twilio":
            call = twilio_wiring.call_channel(twilio, self.twilio_api, base, self.incident_store)
            found[Channel.CALL] = failover_channel(Channel.CALL, self.channel_routes, {"twilio": call})
        elif engine.call_channel == "sip" and twilio.enabled and twilio.call_from:
            # SIP first, Twilio when registration is lost or the trunk answers 503 (config/channels.yaml).
            call = twilio_wiring.call_channel(twilio, self.twilio_api, base, self.incident_store)
            paths: dict[str, FailoverPath] = {"sip": self.sip_service.channel, "twilio": call}
            found[Channel.CALL] = failover_channel(Channel.CALL, self.channel_routes, paths)
        if engine.sms_channel == "twilio":
            sms = twilio_wiring.sms_channel(twilio, self.twilio_api, base, self.incident_store)
            found[Channel.SMS] = failover_channel(Channel.SMS, self.channel_routes, {"twilio": sms})
        return found

    @cached_property
    def channel_routes(self) -> ChannelRoutes:
        """Which path carries which leg (config/channels.yaml, at ``twilio.routes_file``)."""
        return load_routes(self.settings.twilio.routes_file, ROUTE_PATHS)

    @cached_property
    def twilio_api(self) -> TwilioApi:
        return twilio_wiring.rest_api(self.settings.twilio)

    @cached_property
    def twilio_webhooks(self) -> TwilioWebhooks:
        return twilio_wiring.webhooks(self.runtime.engine, self.incident_store, self.settings.http.public_base_url,
                                      self.templates.zone(), self.settings.directory.phone_policy(), self.ivr_flows,
                                      self.settings.twilio.prompt_base_url, self._recording_keeper())

    def _recording_keeper(self) -> RecordingKeeper:
        """Twilio voice messages go where the SIP path keeps its recordings (ivr.recordings_dir)."""
        recordings = self.settings.ivr.recordings_path(self.settings.data_dir)
        return twilio_wiring.recording_keeper(self.settings.twilio, recordings, self.runtime.engine)

    @cached_property
    def twilio_call_back_webhooks(self) -> CallBackWebhooks:
        """Twilio's reports about operators' call-backs, written on the incident timeline."""
        return CallBackWebhooks(CallBackTimeline(self.runtime.engine))

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
        kind, sip = self.settings.engine.call_channel, self.settings.sip
        if kind == "sip":
            timeline = CallBackTimeline(self.runtime.engine)
            return SipCallBack(self.sip_service.phone, self.sip_service.channel, timeline,
                               ring_timeout=sip.call_back_ring_timeout, max_seconds=sip.call_back_max_seconds)
        if kind == "twilio":
            return build_twilio_call_back(self.settings.twilio, self.settings.http.public_base_url,
                                          CallBackTimeline(self.runtime.engine))
        return SimulatedCallBack()  # simulated and recording channels: the demo

    @cached_property
    def health_probes(self) -> list[HealthProbe]:
        """Appended to by channels (SIP registration state) as they are wired."""
        database = DatabaseProbe(lambda: self.engine)
        probes: list[HealthProbe] = [database, SchedulerProbe(lambda: self.__dict__.get("runtime")),
                                     OutageProbe(lambda: self.outage_view(database.check().ok))]
        if self.settings.engine.call_channel == "sip":
            probes.append(SipRegistrationProbe(lambda: self.__dict__.get("sip_service")))
        return probes


@dataclass
class _RuntimeWithSip(EngineRuntime):
    """The engine runtime that also registers the SIP phone on start and unregisters it on stop."""

    sip: SipService | None = None

    def start(self) -> None:
        # The phone first: taking the lease at start-up runs recovery, which dials at once the
        # replacements of calls a crashed process left ringing.
        if self.sip is not None:
            self.sip.start()
        super().start()

    def stop(self) -> None:
        self.engine.stop_dispatching()  # before the SIP channel goes: no leg is sent into a closing phone
        if self.sip is not None:
            self.sip.stop()
        super().stop()


def _engine_not_ready(caller: CallerId) -> None:
    raise RuntimeError(f"call from {mask_phone(caller.number)} before the incident engine was built")


def build(settings: Settings) -> ConsoleContainer:
    return ConsoleContainer(settings)

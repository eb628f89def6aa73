"""Test rig: a real incident engine (SQLite or PostgreSQL) wired to Twilio channels, our webhooks served over
HTTP on an ephemeral port, and the local Twilio emulator playing the recipients."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from callcenter.adapters.clock import SystemClock
from callcenter.adapters.events import EventBus
from callcenter.adapters.memory import MemoryDirectory
from callcenter.adapters.scheduler import ApschedulerTimers, new_scheduler
from callcenter.bootstrap import ROUTE_PATHS
from callcenter.channels.builder import LateNotes
from callcenter.channels.failover import FailoverChannel, TimelineNotes, failover_channel
from callcenter.channels.ports import FailoverPath
from callcenter.channels.routes import load_routes
from callcenter.db.engine import make_engine, migrate
from callcenter.db.incident_repo import SqlIncidentStore
from callcenter.domain.incident import Incident
from callcenter.domain.types import CallerTrust, Channel
from callcenter.ivr.flowfile import load_flows
from callcenter.policies import load_policy, load_templates
from callcenter.service.engine import EnginePorts, EngineRules, IncidentEngine
from callcenter.service.ports import AlertChannel
from callcenter.settings import TwilioSettings
from callcenter.twilio import wiring
from callcenter.twilio.router import twilio_router
from contacts.model import HouseholdProfile, Place, Responder, Role, ScopeLevel
from contacts.phones import PhonePolicy
from tests.twilio_emulator import Emulator, ServerThread

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "config"
CALLER = "+867176100000"
SECOND_CALLER = "+867176100001"
GRID_WORKER = "+8613900000050"
CALL_FROM = ["+14155550100", "+14155550101"]
SMS_FROM = ["+14155550200"]


def neighbour(i: int) -> str:
    return f"+86139000000{i:02d}"


def group_directory(neighbours: int) -> MemoryDirectory:
    """Two households of one joint-defense group; each alerts the other neighbours and the grid worker."""
    place = Place(1, "小溪塔街道", 1, "张家村", 1, "第一网格", 1, "三组")
    households = [(place, HouseholdProfile(index + 1, f"H{index}", ("三组 张桂兰家", "三组 李秀英家")[index],
                                           ("张桂兰", "李秀英")[index], f"张家村三组{index + 1}号", (number,)))
                  for index, number in enumerate((CALLER, SECOND_CALLER))]
    people = [Responder(i, f"邻居{i}", neighbour(i), Role.HOUSEHOLD_CONTACT, ScopeLevel.GROUP, 1, 100 + i)
              for i in range(1, neighbours + 1)]
    worker = Responder(50, "网格员王芳", GRID_WORKER, Role.GRID_WORKER, ScopeLevel.GROUP, 1, None)
    return MemoryDirectory(households, [*people, worker])


def test_policy(tmp_path: Path) -> Path:
    """The shipped policy with a 1 s redial and a level 0 that waits long enough for a test."""
    text = (CONFIG / "escalation.yaml").read_text(encoding="utf-8")
    text = text.replace("after_seconds: 30", "after_seconds: 1").replace("next_after_seconds: 60",
                                                                           "next_after_seconds: 600")
    path = tmp_path / "escalation.yaml"
    path.write_text(text, encoding="utf-8")
    return path


class LateApp:
    """Lets the HTTP server take its port before the app (which needs the port in its URLs) exists."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@dataclass
class TwilioRig:
    emulator: Emulator
    server: ServerThread
    engine: IncidentEngine
    store: SqlIncidentStore
    settings: TwilioSettings
    channels: dict[Channel, AlertChannel]
    stops: list[Callable[[], None]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.server.base_url}/twilio{path}"

    def press(self, caller: str = CALLER) -> Incident:
        return self.engine.key_press(caller, CallerTrust.LOCAL)

    def legs(self, incident_id: str, phone: str, channel: str, purpose: str = "alert") -> list[Any]:
        rows = [r for r in self.store.legs(incident_id)
                if r.recipient_phone == phone and r.channel == channel and r.purpose == purpose]
        return sorted(rows, key=lambda r: r.attempt)

    def statuses(self, incident_id: str, phone: str, channel: str) -> list[str]:
        return [str(r.status) for r in self.legs(incident_id, phone, channel)]

    def timeline(self, incident_id: str) -> list[Any]:
        return list(self.store.timeline(incident_id))

    def notes(self, incident_id: str) -> list[str]:
        return [str(e.data.get("text", "")) for e in self.timeline(incident_id) if e.kind == "note"]

    def status(self, incident_id: str) -> str:
        return str(self.store.incident_row(incident_id).status)


def twilio_settings(emulator: Emulator, tmp_path: Path, **overrides: Any) -> TwilioSettings:
    values: dict[str, Any] = {
        "enabled": True, "account_sid": emulator.account_sid, "auth_token": emulator.auth_token,
        "api_base_url": emulator.base_url, "call_from": CALL_FROM, "sms_from": SMS_FROM,
        "calls_per_second_per_number": 50, "calls_per_second_per_account": 50, "sms_per_second_per_number": 50,
        "sms_per_second_per_account": 50, "request_timeout_seconds": 1.0, "backoff_seconds": 0.05,
        "routes_file": CONFIG / "channels.yaml",
    }
    values.update(overrides)
    return TwilioSettings(**values)


# Channels for the rig: settings, our webhook base URL, the store, and where failover switches are noted.
ChannelFactory = Callable[[TwilioSettings, str, SqlIncidentStore, TimelineNotes], dict[Channel, AlertChannel]]


def failover(kind: Channel, settings: TwilioSettings, paths: Mapping[str, FailoverPath],
             notes: TimelineNotes) -> FailoverChannel:
    """The failover channel over ``paths`` as the composition root builds it, routed per ``settings.routes_file``."""
    return failover_channel(kind, load_routes(settings.routes_file, ROUTE_PATHS), paths, notes)


def twilio_only(settings: TwilioSettings, base_url: str, store: SqlIncidentStore,
                notes: TimelineNotes) -> dict[Channel, AlertChannel]:
    api = wiring.rest_api(settings)
    call, sms = wiring.call_channel(settings, api, base_url, store), wiring.sms_channel(settings, api, base_url, store)
    return {
        Channel.CALL: failover(Channel.CALL, settings, {"twilio": call}, notes),
        Channel.SMS: failover(Channel.SMS, settings, {"twilio": sms}, notes),
    }


def build_rig(database_url: str, tmp_path: Path, emulator: Emulator, make_channels: ChannelFactory = twilio_only,
              neighbours: int = 3, **overrides: Any) -> TwilioRig:
    late = LateApp()
    server = ServerThread(late)
    settings = twilio_settings(emulator, tmp_path, **overrides)
    migrate(database_url)
    db = make_engine(database_url)
    store = SqlIncidentStore(db)
    scheduler = new_scheduler()
    timers = ApschedulerTimers(scheduler)
    built: list[IncidentEngine] = []  # the engine, once built: failover switches are noted on its timelines
    channels = make_channels(settings, server.base_url, store, LateNotes(lambda: built[0]))
    templates = load_templates(CONFIG / "messages.yaml")
    executor = ThreadPoolExecutor(32, thread_name_prefix="dispatch")
    engine = IncidentEngine(
        EnginePorts(store=store, directory=group_directory(neighbours), channels=channels, timers=timers,
                    clock=SystemClock(), events=EventBus()),
        EngineRules(policy=load_policy(test_policy(tmp_path)), templates=templates, phone_policy=PhonePolicy()),
        holder="twilio-test#1", executor=executor,
    )
    built.append(engine)
    for channel in channels.values():
        if isinstance(channel, FailoverChannel):
            channel.start()  # its health monitor
    timers.target, timers.leading = engine, True
    scheduler.start()
    hooks = wiring.webhooks(engine, store, server.base_url, templates.zone(), PhonePolicy(),
                            load_flows(ROOT / "ivr_flows"))
    app = FastAPI()
    app.include_router(twilio_router(lambda: hooks, wiring.signature_check(settings, server.base_url)))
    late.app = app
    server.start()
    rig = TwilioRig(emulator, server, engine, store, settings, channels)
    rig.stops += [server.stop, lambda: scheduler.shutdown(wait=False),
                  lambda: executor.shutdown(wait=False, cancel_futures=True), db.dispose]
    for channel in channels.values():
        stop = getattr(channel, "stop", None)
        if stop is not None:
            rig.stops.insert(0, stop)
    return rig



"""The incident engine with fake channels, timers and clock on a given store (in memory for unit tests,
SQLite or PostgreSQL for tests/integration/test_engine_sql.py): one joint-defense group's directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from callcenter.adapters.events import EventBus
from callcenter.adapters.fakes import FakeChannel, FakeTimers, SteppingClock
from callcenter.adapters.memory import MemoryDirectory, MemoryIncidentStore
from callcenter.domain.types import Channel
from callcenter.policies import load_policy, load_templates
from callcenter.service.engine import EnginePorts, EngineRules, IncidentEngine
from contacts.model import CallerLookup, HouseholdProfile, Place, Responder, Role, ScopeLevel
from contacts.phones import PhonePolicy

if TYPE_CHECKING:
    from callcenter.db.incident_repo import SqlIncidentStore

CONFIG = Path(__file__).resolve().parents[2] / "config"
CALLER = "+867176100000"
HOLDER = "test#1"


def _responder(i: int, role: Role, household_id: int | None = None) -> Responder:
    return Responder(i, f"responder{i}", f"+8613900000{i:03d}", role, ScopeLevel.GROUP, 1, household_id)


def one_group() -> CallerLookup:
    """Household 0 (the caller) with ten neighbours, a grid worker and the upper levels."""
    household = HouseholdProfile(1, "H0", "三组 张桂兰家", "张桂兰", "张家村三组1号", (CALLER,))
    place = Place(1, "小溪塔街道", 1, "张家村", 1, "第一网格", 1, "三组")
    neighbours = tuple(_responder(i, Role.HOUSEHOLD_CONTACT, household_id=100 + i) for i in range(1, 11))
    upper = (_responder(50, Role.GRID_WORKER), _responder(51, Role.GRID_CENTRE_HOUSEHOLD),
             _responder(60, Role.VILLAGE_STATION), _responder(70, Role.POLICE_STATION))
    return CallerLookup(household, place, (), neighbours, upper)


@dataclass
class Rig:
    engine: IncidentEngine
    store: MemoryIncidentStore | SqlIncidentStore
    clock: SteppingClock
    timers: FakeTimers
    calls: FakeChannel
    sms: FakeChannel
    bus: EventBus

    def fire_timers(self) -> None:
        for timer in self.timers.due(self.clock.now()):
            if timer.kind == "escalate":
                self.engine.escalation_timer(timer.incident_id, timer.level, timer.token)
            else:
                self.engine.leg_timer(timer.incident_id)


def engine_rig(store: MemoryIncidentStore | SqlIncidentStore) -> Rig:
    """The engine on ``store`` with fake channels and timers, a stepping clock and the group of ``one_group``."""
    clock, timers, bus = SteppingClock(), FakeTimers(), EventBus()
    calls, sms = FakeChannel("fake-call"), FakeChannel("fake-sms")
    engine = IncidentEngine(
        EnginePorts(store=store, directory=MemoryDirectory.of(one_group()),
                    channels={Channel.CALL: calls, Channel.SMS: sms}, timers=timers, clock=clock, events=bus),
        EngineRules(policy=load_policy(CONFIG / "escalation.yaml"), templates=load_templates(CONFIG / "messages.yaml"),
                    phone_policy=PhonePolicy()),
        holder=HOLDER,
    )
    return Rig(engine, store, clock, timers, calls, sms, bus)


def leg_ids(rig: Rig, incident_id: str, phone: str, channel: str = "call") -> list[str]:
    return [r.id for r in rig.store.legs(incident_id) if r.recipient_phone == phone and r.channel == channel]

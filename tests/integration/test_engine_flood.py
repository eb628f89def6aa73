"""The incident engine under a flood, on SQLite with fake channels: a key press never queues behind
another incident's command, and the auditor writes once per incident."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from callcenter.adapters.events import EventBus
from callcenter.adapters.fakes import FakeChannel, FakeTimers, SteppingClock
from callcenter.adapters.memory import MemoryDirectory
from callcenter.db.engine import make_engine, migrate
from callcenter.db.incident_repo import SqlIncidentStore, SqlUnitOfWork
from callcenter.domain.incident import IncidentEvent
from callcenter.domain.types import Actor, CallerTrust, Channel
from callcenter.policies import load_policy, load_templates
from callcenter.service.engine import EnginePorts, EngineRules, IncidentEngine
from contacts.model import CallerLookup, HouseholdProfile, Place, Responder, Role, ScopeLevel
from contacts.phones import PhonePolicy

pytestmark = pytest.mark.timeout(60)
CONFIG = Path(__file__).resolve().parents[2] / "config"
CALLER = "+867176100000"  # household 1: its open key is "h:1"
STRANGER = "+8617000000001"  # not in the directory
WAIT = 10.0


def one_household() -> CallerLookup:
    household = HouseholdProfile(1, "H0", "三组 张桂兰家", "张桂兰", "张家村三组1号", (CALLER,))
    place = Place(1, "小溪塔街道", 1, "张家村", 1, "第一网格", 1, "三组")
    neighbours = tuple(Responder(i, f"邻居{i}", f"+8613900000{i:03d}", Role.HOUSEHOLD_CONTACT, ScopeLevel.GROUP,
                                 1, 100 + i) for i in range(1, 6))
    return CallerLookup(household, place, (), neighbours, ())


class GatedStore(SqlIncidentStore):
    """Holds the unit of work of one chosen thread until released (a slow write in progress)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.gated: int | None = None
        self.entered = threading.Event()
        self.release = threading.Event()
        self.appends: list[tuple[str, int]] = []  # (incident, events) per append_events call

    def append_events(self, incident_id: str, events: Sequence[IncidentEvent]) -> None:
        self.appends.append((incident_id, len(events)))
        super().append_events(incident_id, events)

    def unit_of_work(self) -> SqlUnitOfWork:
        if threading.get_ident() == self.gated:
            self.entered.set()
            assert self.release.wait(WAIT), "the gated write was never released"
        return super().unit_of_work()


@dataclass
class Rig:
    engine: IncidentEngine
    store: GatedStore
    calls: FakeChannel
    clock: SteppingClock


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    url = f"sqlite:///{tmp_path / 'flood.db'}"
    migrate(url)
    db = make_engine(url)
    store, calls = GatedStore(db), FakeChannel("fake-call")
    ids = (f"h:{n}" if n == 1 else f"incident-{n}" for n in itertools.count(1))  # the first id = household 1's key

    def new_id(now: datetime) -> str:
        return next(ids)

    clock = SteppingClock()
    engine = IncidentEngine(
        EnginePorts(store=store, directory=MemoryDirectory.of(one_household()),
                    channels={Channel.CALL: calls, Channel.SMS: FakeChannel("fake-sms")}, timers=FakeTimers(),
                    clock=clock, events=EventBus()),
        EngineRules(policy=load_policy(CONFIG / "escalation.yaml"), templates=load_templates(CONFIG / "messages.yaml"),
                    phone_policy=PhonePolicy()),
        holder="test#1", new_id=new_id,
    )
    yield Rig(engine, store, calls, clock)
    store.release.set()
    db.dispose()


def _in_thread(target: object, *args: object) -> tuple[threading.Thread, list[object]]:
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(target(*args)), daemon=True)  # type: ignore[operator]
    thread.start()
    return thread, result


def test_a_key_press_never_waits_for_a_command_of_another_incident(rig: Rig) -> None:
    # The stranger's incident gets the id "h:1", the very key a press of household 1 locks on.
    busy = rig.engine.key_press(STRANGER, CallerTrust.LOCAL)
    assert busy.id == "h:1"
    rig.store.release.clear()
    note, _ = _in_thread(lambda: (setattr(rig.store, "gated", threading.get_ident()),
                                  rig.engine.add_note(busy.id, "slow write", Actor("operator", "a"))))
    assert rig.store.entered.wait(WAIT)  # the note holds incident "h:1"'s lock, its write not yet done
    press, opened = _in_thread(rig.engine.key_press, CALLER, CallerTrust.LOCAL)
    press.join(WAIT)
    assert not press.is_alive(), "the key press waited behind another incident's command"
    assert opened and opened[0].household_id == 1  # type: ignore[attr-defined]
    rig.store.release.set()
    note.join(WAIT)


def test_the_auditor_writes_one_batch_of_overdue_legs_per_incident(rig: Rig) -> None:
    rig.calls.refuse.update(f"+8613900000{i:03d}" for i in range(1, 6))  # every alert call fails: redials planned
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rig.clock.advance(45)  # the redials (due after 30 s) are 15 s late; no timer fired them
    overdue = rig.engine.audit()
    assert len(overdue) == 5 and {o.incident_id for o in overdue} == {incident.id}
    assert rig.store.appends == [(incident.id, 5)]

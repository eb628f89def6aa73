"""Incident engine throughput and fan-out latency on SQLite and PostgreSQL.

    .venv/bin/python -m bench.engine [--incidents 300] [--latency-presses 200] [--databases sqlite,postgres]

Per database, on a fresh migrated scratch database, with the engine wired as ``callcenter serve``
wires it (dispatch thread pool of 16, SQL store, event bus) but with fake channels that accept a
leg at once, and a directory in memory (the caller lookup is measured by ``bench.lookup``). Each
household has ten neighbours, so a press plans 21 level-0 legs: a call and an SMS per neighbour
and an SMS to the grid worker.

- throughput: ``--incidents`` presses of different households from 4 threads (calls arriving on
  several lines at once); incidents per second until every leg is handed to its channel and its
  DIALING/SUBMITTED outcome is stored.
- latency: presses one at a time; from the press to the 21st leg handed to a channel, p50/p99.
- reference: the same rows (incident, 21 legs, its timeline events) written with bare INSERTs,
  one transaction per incident, one thread: what storage alone allows.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from bench.common import DATABASES, RESULTS, Latency, machine, scratch_database
from callcenter.adapters.clock import SystemClock
from callcenter.adapters.events import EventBus
from callcenter.adapters.fakes import FakeTimers
from callcenter.db.engine import make_engine, migrate
from callcenter.db.incident_repo import SqlIncidentStore
from callcenter.db.incident_tables import AlertLegRow, IncidentEventRow, IncidentRow
from callcenter.domain import incident_codec as codec
from callcenter.domain.types import CallerTrust, Channel
from callcenter.policies import load_policy, load_templates
from callcenter.service.engine import EnginePorts, EngineRules, IncidentEngine, KeyPress
from callcenter.service.ports import LegOrder
from contacts.model import CallerLookup, HouseholdProfile, Place, Responder, Role, ScopeLevel
from contacts.phones import PhonePolicy

CONFIG = Path(__file__).resolve().parent.parent / "config"
LEGS = 21
PRESS_THREADS = 4
_inc = IncidentRow.__table__  # type: ignore[attr-defined]
_leg = AlertLegRow.__table__  # type: ignore[attr-defined]
_evt = IncidentEventRow.__table__  # type: ignore[attr-defined]


class TenNeighbours:
    """Household n (caller +86138000nnnnn) in a group of its own with ten neighbours and a grid worker."""

    def household_by_caller(self, number: str) -> CallerLookup | None:
        n = int(number[-6:])
        household = HouseholdProfile(n, f"H{n}", f"户{n}", f"户主{n}", f"一组{n}号", (number,))
        place = Place(1, "小溪塔街道", 1, "张家村", 1, "第一网格", n, f"组{n}")
        neighbours = tuple(Responder(n * 100 + i, f"邻居{i}", f"+861390{n:06d}{i:02d}", Role.HOUSEHOLD_CONTACT,
                                     ScopeLevel.GROUP, n, n * 100 + i) for i in range(10))
        worker = Responder(n * 100 + 99, "网格员", f"+861370{n:06d}99", Role.GRID_WORKER, ScopeLevel.GRID, 1)
        return CallerLookup(household, place, (), neighbours, (worker,))


class CountingChannel:
    """Accepts every leg at once; tells the benchmark when an incident's legs have all been handed over."""

    def __init__(self, name: str, handed: dict[str, list[float]], lock: threading.Lock,
                 done: threading.Condition) -> None:
        self.name, self.survives_restart = name, False
        self._handed, self._lock, self._done = handed, lock, done

    def send(self, order: LegOrder) -> str:
        at = time.perf_counter()
        with self._lock:
            times = self._handed.setdefault(order.incident_id, [])
            times.append(at)
            if len(times) == LEGS:
                with self._done:
                    self._done.notify_all()
        return f"{self.name}-{order.leg_id[-12:]}"


@dataclass
class Rig:
    engine: IncidentEngine
    executor: ThreadPoolExecutor
    handed: dict[str, list[float]]
    done: threading.Condition

    def wait_handed(self, incident_ids: Sequence[str], timeout: float = 120) -> None:
        with self.done:
            ok = self.done.wait_for(lambda: all(len(self.handed.get(i, ())) >= LEGS for i in incident_ids), timeout)
        if not ok:
            raise TimeoutError("legs not handed to the channels in time")


def build_rig(db: Engine) -> Rig:
    handed: dict[str, list[float]] = {}
    lock, done = threading.Lock(), threading.Condition()
    executor = ThreadPoolExecutor(16, thread_name_prefix="dispatch")
    channels = {Channel.CALL: CountingChannel("call", handed, lock, done),
                Channel.SMS: CountingChannel("sms", handed, lock, done)}
    engine = IncidentEngine(
        EnginePorts(store=SqlIncidentStore(db), directory=TenNeighbours(), channels=channels,  # type: ignore[arg-type]
                    timers=FakeTimers(), clock=SystemClock(), events=EventBus()),
        EngineRules(policy=load_policy(CONFIG / "escalation.yaml"), templates=load_templates(CONFIG / "messages.yaml"),
                    phone_policy=PhonePolicy()),
        holder="bench#1", executor=executor,
    )
    return Rig(engine, executor, handed, done)


def caller(n: int) -> str:
    return f"+86138{n:09d}"


def throughput(db: Engine, incidents: int, first: int) -> tuple[float, int]:
    rig = build_rig(db)
    numbers = [caller(first + i) for i in range(incidents)]
    started = time.perf_counter()
    with ThreadPoolExecutor(PRESS_THREADS) as presses:
        ids = [i.id for i in presses.map(rig.engine.key_press, numbers)]
    rig.wait_handed(ids)
    rig.executor.shutdown(wait=True)  # every outcome stored
    seconds = time.perf_counter() - started
    return incidents / seconds, sum(len(v) for v in rig.handed.values())


def latency(db: Engine, presses: int, first: int) -> Latency:
    rig = build_rig(db)
    samples: list[int] = []
    started = time.perf_counter()
    for i in range(presses):
        before = time.perf_counter()
        incident = rig.engine.key_press(caller(first + i), CallerTrust.LOCAL)
        rig.wait_handed([incident.id])
        samples.append(int((max(rig.handed[incident.id]) - before) * 1e9))
    wall = time.perf_counter() - started
    rig.executor.shutdown(wait=True)
    return Latency.of(samples, wall)


def insert_floor(db: Engine, incidents: int, first: int) -> float:
    """Incidents per second written as bare INSERTs of the same rows the engine stores."""
    rig = build_rig(db)
    rows = []
    for i in range(incidents):
        number = caller(first + i)
        press = KeyPress(number, rig.engine.directory.household_by_caller(number), f"c:{number}", datetime.now(UTC),
                         CallerTrust.LOCAL)
        incident = rig.engine._open(press, hold=False)
        rows.append(_rows(incident))
    rig.executor.shutdown()
    started = time.perf_counter()
    for incident_row, legs, events in rows:
        with db.begin() as conn:
            conn.execute(insert(_inc).values(**incident_row))
            conn.execute(insert(_leg), legs)
            conn.execute(insert(_evt), events)
    return incidents / (time.perf_counter() - started)


def _rows(incident: Any) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    values = codec.incident_values(incident, incident.opened_at) | {
        "plan": codec.plan_to_json(incident.plan), "open_key": None, "version": 1}
    legs = [codec.leg_values(leg) for leg in incident.legs.values()]
    events = [codec.event_values(incident.id, e) for e in incident.new_events]
    return values, legs, events


@dataclass(frozen=True, slots=True)
class Result:
    database: str
    incidents_per_second: float
    legs_handed: int
    latency: Latency
    floor_incidents_per_second: float


def run(kind: str, incidents: int, presses: int) -> Result:
    with scratch_database(kind) as url:
        migrate(url)
        db = make_engine(url)
        try:
            floor = insert_floor(db, incidents, first=900_000)
            rate, handed = throughput(db, incidents, first=0)
            lat = latency(db, presses, first=500_000)
        finally:
            db.dispose()
    return Result(kind, rate, handed, lat, floor)


def report(results: list[Result], incidents: int) -> str:
    head = ("| database | incidents/s (4 pressing threads) | legs handed | press → 21 legs handed p50 ms | p99 ms "
            "| max ms | reference: bare INSERT incidents/s |")
    lines = [head, "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.database} | {r.incidents_per_second:,.1f} | {r.legs_handed:,}/{incidents * LEGS:,} "
                     f"| {r.latency.p50_ms:.1f} | {r.latency.p99_ms:.1f} | {r.latency.max_ms:.1f} "
                     f"| {r.floor_incidents_per_second:,.1f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=300)
    parser.add_argument("--latency-presses", type=int, default=200)
    parser.add_argument("--databases", default=",".join(DATABASES))
    args = parser.parse_args(argv)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    results = [run(kind.strip(), args.incidents, args.latency_presses) for kind in args.databases.split(",")]
    print(report(results, args.incidents))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"engine-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps({"machine": machine(), "load_average": os.getloadavg(), "args": vars(args),
                                "results": [asdict(r) for r in results]}, indent=2))
    print(f"results in {path}")


if __name__ == "__main__":
    main()

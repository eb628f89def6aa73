"""Database outage: directory snapshot copy and lookups, a press with the database away, the replay.

    .venv/bin/python -m bench.outage [--households 125000] [--presses 100]

On a scratch PostgreSQL database bulk-loaded with the synthetic district (``bench.bulk``):

- snapshot: seconds to copy the directory into the local SQLite file, its size; caller lookups
  (``--lookups``, drawn from every line) on the snapshot next to the same lookups on PostgreSQL;
- press: from ``key_press`` to the last level-0 leg handed to a channel, p50/p99, with the database
  up (the normal path) and with it closed to connections and its backends terminated (the lookup
  fails over to the snapshot, the store fails, the press is spooled and fsynced, then the legs go);
  the engine as ``callcenter serve`` wires it (16 dispatch threads) with channels that accept at once;
- replay: the spooled presses stored once the database is open again: seconds and records per second.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from bench.bulk import bulk_load, writer_for
from bench.common import RESULTS, Latency, machine, postgres_admin_url, postgres_version, scratch_database
from bench.lookup import scale_of
from callcenter.adapters.clock import SystemClock
from callcenter.adapters.events import EventBus
from callcenter.adapters.fakes import FakeTimers
from callcenter.db.directory_repo import SqlDirectory
from callcenter.db.engine import make_engine, migrate
from callcenter.db.incident_repo import SqlIncidentStore
from callcenter.db.snapshot import DirectorySnapshot, database_unavailable
from callcenter.domain.types import CallerTrust, Channel
from callcenter.policies import load_policy, load_templates
from callcenter.service.engine import EnginePorts, EngineRules, IncidentEngine
from callcenter.service.outage import DegradedMode
from callcenter.service.ports import LegOrder
from callcenter.service.snapshot import FallbackDirectory
from callcenter.service.spool import PressSpool
from contacts.demo import iter_roster
from contacts.phones import PhonePolicy

CONFIG = Path(__file__).resolve().parent.parent / "config"


class AcceptingChannel:
    """Accepts every leg at once and notes when each incident's legs were handed over."""

    survives_restart = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.handed: dict[str, list[int]] = defaultdict(list)
        self._lock = threading.Lock()

    def send(self, order: LegOrder) -> str:
        with self._lock:
            self.handed[order.incident_id].append(time.perf_counter_ns())
        return f"{self.name}-{order.leg_id[-12:]}"


@dataclass
class Figures:
    households: int
    snapshot_copy_seconds: float
    snapshot_megabytes: float
    lookup_snapshot: Latency
    lookup_database: Latency
    press_database_up: Latency
    press_during_copy: Latency
    press_database_away: Latency
    spooled_records: int
    replay_seconds: float
    machine: str
    postgres: str
    date: str


def block(admin_url: str, database: str, allow: bool) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allow).lower()}'))
            if not allow:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db"),
                             {"db": database})
    finally:
        admin.dispose()


def timed_lookups(lookup: SqlDirectory | DirectorySnapshot, numbers: Sequence[str]) -> Latency:
    samples = []
    started = time.perf_counter()
    for number in numbers:
        t0 = time.perf_counter_ns()
        assert lookup.household_by_caller(number) is not None
        samples.append(time.perf_counter_ns() - t0)
    return Latency.of(samples, time.perf_counter() - started)


def build_engine(engine: Engine, work: Path,
                 channels: dict[Channel, AcceptingChannel]) -> tuple[IncidentEngine, DegradedMode]:
    policy = load_policy(CONFIG / "escalation.yaml")
    store = SqlIncidentStore(engine)
    snapshot = DirectorySnapshot(work / "snapshot", engine)
    outage = DegradedMode(PressSpool(work / "spool"), store, policy, SystemClock(), "bench#1", database_unavailable)
    return IncidentEngine(
        EnginePorts(store=store, directory=FallbackDirectory(SqlDirectory(engine), snapshot), channels=dict(channels),
                    timers=FakeTimers(), clock=SystemClock(), events=EventBus()),
        EngineRules(policy=policy, templates=load_templates(CONFIG / "messages.yaml"), phone_policy=PhonePolicy()),
        holder="bench#1", executor=ThreadPoolExecutor(16), outage=outage), outage


def timed_presses(engine: IncidentEngine, channels: dict[Channel, AcceptingChannel],
                  numbers: Sequence[str]) -> Latency:
    """Press → the incident's last level-0 leg handed to a channel, one press at a time."""
    samples = []
    started = time.perf_counter()
    for number in numbers:
        t0 = time.perf_counter_ns()
        incident = engine.key_press(number, CallerTrust.LOCAL)
        expected = sum(1 for leg in incident.legs.values() if leg.level == 0)
        deadline = time.monotonic() + 10
        while sum(len(c.handed.get(incident.id, ())) for c in channels.values()) < expected:
            if time.monotonic() > deadline:
                raise RuntimeError(f"incident {incident.id}: legs not handed over within 10 s")
            time.sleep(0.0002)
        last = max(t for c in channels.values() for t in c.handed.get(incident.id, ()))
        samples.append(last - t0)
    return Latency.of(samples, time.perf_counter() - started)


def run(households: int, presses: int, lookups: int, seed: int) -> Figures:
    admin_url = postgres_admin_url()
    with scratch_database("postgres") as url, tempfile.TemporaryDirectory() as scratch:
        migrate(url)
        engine = make_engine(url)
        loaded = bulk_load(iter_roster(scale_of(households), seed), [writer_for(engine)], 20_000, seed)
        rng = random.Random(seed)
        lines = rng.sample(loaded.sample, min(len(loaded.sample), lookups + 3 * presses))
        work = Path(scratch)
        snapshot = DirectorySnapshot(work / "snapshot", engine)
        t0 = time.perf_counter()
        path = snapshot.refresh()
        copy_seconds = time.perf_counter() - t0
        megabytes = path.stat().st_size / 1e6
        database = SqlDirectory(engine)
        figures_lookup = (timed_lookups(snapshot, lines[:lookups]), timed_lookups(database, lines[:lookups]))
        channels = {Channel.CALL: AcceptingChannel("call"), Channel.SMS: AcceptingChannel("sms")}
        incidents, outage = build_engine(engine, work, channels)
        up = timed_presses(incidents, channels, lines[lookups:lookups + presses])
        copying = threading.Thread(target=snapshot.refresh)  # as the runtime's periodic job does
        copying.start()
        during_copy = timed_presses(incidents, channels, lines[lookups + 2 * presses:lookups + 3 * presses])
        copied_meanwhile = copying.is_alive()
        copying.join()
        if not copied_meanwhile:
            print("note: the copy ended before the presses did; press-during-copy figures cover part of it")
        name = make_url(url).database
        assert name is not None
        block(admin_url, name, allow=False)
        try:
            away = timed_presses(incidents, channels, lines[lookups + presses:lookups + 2 * presses])
        finally:
            block(admin_url, name, allow=True)
        records = outage.state().spooled_records
        t0 = time.perf_counter()
        incidents.outage.replay()
        replay_seconds = time.perf_counter() - t0
        assert outage.state().spooled_records == 0
        figures = Figures(loaded.households, copy_seconds, megabytes, *figures_lookup, up,
                          during_copy, away,
                          records, replay_seconds, machine(), postgres_version(url), datetime.now(UTC).isoformat())
        database.close()
        snapshot.close()
        engine.dispose()
    return figures


def report(f: Figures) -> str:
    rows = [
        ("directory snapshot copied (PostgreSQL → local SQLite)", f"{f.snapshot_copy_seconds:.1f} s, "
         f"{f.snapshot_megabytes:.0f} MB", "within the 30 s check period"),
        ("caller lookup on the snapshot, p50 / p99",
         f"{f.lookup_snapshot.p50_ms:.2f} / {f.lookup_snapshot.p99_ms:.2f} ms",
         f"database: {f.lookup_database.p50_ms:.2f} / {f.lookup_database.p99_ms:.2f} ms"),
        ("press → last level-0 leg handed over, database up, p50 / p99",
         f"{f.press_database_up.p50_ms:.1f} / {f.press_database_up.p99_ms:.1f} ms", "reference"),
        ("same, while the snapshot is being copied (child process), p50 / p99",
         f"{f.press_during_copy.p50_ms:.1f} / {f.press_during_copy.p99_ms:.1f} ms", "close to the row above"),
        ("same, database closed to connections (spooled), p50 / p99",
         f"{f.press_database_away.p50_ms:.1f} / {f.press_database_away.p99_ms:.1f} ms",
         "at once: no slower than with the database up"),
        ("spool replayed when the database is back", f"{f.spooled_records} records in {f.replay_seconds:.2f} s "
         f"({f.spooled_records / f.replay_seconds:.0f}/s)" if f.replay_seconds else "-", "—"),
    ]
    lines = [f"{f.households:,} households; {f.machine}; PostgreSQL {f.postgres}; {f.date}", "",
             "| what | figure | goal / reference |", "|---|---:|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.outage", description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=125_000)
    parser.add_argument("--presses", type=int, default=100)
    parser.add_argument("--lookups", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=995)
    args = parser.parse_args(argv)
    figures = run(args.households, args.presses, args.lookups, args.seed)
    print(report(figures))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "outage.json").write_text(json.dumps(asdict(figures), indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()

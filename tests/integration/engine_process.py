"""Helpers for process-level engine tests: a directory on disk, a fast policy, and engine
processes (``python -m callcenter.standalone``) started, watched and killed by the test.

Phones are the "recording" channel: simulated recipients whose every placement is appended to an
fsynced log before the channel replies, so the log tells what was placed even across ``kill -9``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from callcenter.adapters.recording import PlacementLog
from callcenter.db.engine import make_engine, migrate
from callcenter.db.incident_repo import SqlIncidentStore
from callcenter.db.incident_tables import LeaseRow
from callcenter.db.roster_store import RosterStore
from callcenter.domain.types import LegStatus
from contacts.demo import VILLAGE, generate_roster

ROOT = Path(__file__).resolve().parents[2]

# Escalation as shipped but fast: one second per level (the policy's minimum), redial after one
# second, and a quorum of five acknowledgements so that some groups climb and some do not.
FAST_POLICY = """
levels:
  - name: 联防组
    operators: true
    targets:
      - {role: household_contact, channels: [call, sms]}
      - {role: grid_worker, channels: [sms]}
    next_after_seconds: 1
  - name: 网格
    targets:
      - {role: grid_worker, channels: [call]}
      - {role: grid_centre_household, channels: [call]}
      - {role: volunteer, channels: [call]}
    next_after_seconds: 1
  - name: 村站和乡镇
    targets:
      - {role: village_station, channels: [call]}
      - {role: township_duty_officer, channels: [call]}
    next_after_seconds: 1
  - name: 派出所
    urgent: true
    targets:
      - {role: police_station, channels: [call]}
quorum:
  acknowledgements: 5
  any_of_roles: []
redial:
  after_seconds: 1
  max_redials: 1
"""
TOP_LEVEL = 3
# Simulated phones at a tenth of real time: acknowledgements after 0.4 s, busy after 0.1 s, no
# answer after 3 s, voicemail after 2 s.
TIME_SCALE = 0.1


@dataclass
class Site:
    """One service installation on disk: SQLite database, policy, placement log, settings."""

    root: Path
    database_url: str
    callers: list[str]  # one emergency line per joint-defense group
    log: PlacementLog
    lease_seconds: float = 1.5
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)  # instance → extra environment
    processes: list[subprocess.Popen[Any]] = field(default_factory=list)
    children: list[int] = field(default_factory=list)  # pids forked by the fork server
    forkserver: subprocess.Popen[str] | None = None

    @property
    def store(self) -> SqlIncidentStore:
        return SqlIncidentStore(make_engine(self.database_url))

    def env(self, instance: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
        env.update({
            "CALLCENTER_DATABASE_URL": self.database_url,
            "CALLCENTER_DATA_DIR": str(self.root),
            "CALLCENTER_LOG_LEVEL": "WARNING",
            "CALLCENTER_ENGINE__INSTANCE_NAME": instance,
            "CALLCENTER_ENGINE__CALL_CHANNEL": "recording",
            "CALLCENTER_ENGINE__SMS_CHANNEL": "recording",
            "CALLCENTER_ENGINE__PLACEMENT_LOG": str(self.log.path),
            "CALLCENTER_ENGINE__SIMULATED_TIME_SCALE": str(TIME_SCALE),
            "CALLCENTER_ENGINE__POLICY_FILE": str(self.root / "escalation.yaml"),
            "CALLCENTER_ENGINE__LEASE_SECONDS": str(self.lease_seconds),
            "PYTHONPATH": str(ROOT),
        })
        env.update(self.overrides.get(instance, {}))
        return env

    def start(self, name: str, presses: list[str], instance: str = "node", forked: bool = False,
              seconds: float = 120) -> EngineProcess:
        """An engine process pressing ``presses`` and running ``seconds``: a fresh interpreter, or a
        child of the fork server."""
        out = self.root / f"{name}.out"
        args = ["--seconds", f"{seconds:g}"]
        for number in presses:
            args += ["--press", number]
        if forked:
            return EngineProcess(self._fork(args, self.env(instance), out), out)
        with out.open("wb") as sink:
            process = subprocess.Popen([sys.executable, "-m", "callcenter.standalone", *args], cwd=ROOT,
                                       env=self.env(instance), stdout=sink, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return EngineProcess(process.pid, out, process)

    def _fork(self, args: list[str], env: dict[str, str], out: Path) -> int:
        if self.forkserver is None:
            self.forkserver = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("engine_forkserver.py"))], cwd=ROOT,
                env=self.env("forkserver"), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            self.processes.append(self.forkserver)
        assert self.forkserver.stdin is not None and self.forkserver.stdout is not None
        self.forkserver.stdin.write(json.dumps({"args": args, "env": env, "out": str(out)}) + "\n")
        self.forkserver.stdin.flush()
        pid = int(self.forkserver.stdout.readline())
        self.children.append(pid)
        return pid

    def stop_all(self) -> None:
        for pid in self.children:
            _kill(pid)
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def _alive(pid: int, process: subprocess.Popen[bytes] | None) -> bool:
    if process is not None:
        return process.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _kill(pid: int, process: subprocess.Popen[bytes] | None = None) -> None:
    """``kill -9`` and wait until the process is gone: no clean-up of any kind."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if process is not None:
        process.wait(10)
        return
    deadline = time.monotonic() + 10
    while _alive(pid, None) and time.monotonic() < deadline:
        time.sleep(0.01)


@dataclass
class EngineProcess:
    pid: int
    out: Path
    process: subprocess.Popen[bytes] | None = None

    def output(self) -> str:
        return self.out.read_text(errors="replace") if self.out.exists() else ""

    def incidents(self) -> dict[str, str]:
        """Caller → incident id, for every press the process reported as stored."""
        found = {}
        for line in self.output().splitlines():
            if line.startswith("incident "):
                _, incident_id, number = line.split()
                found[number] = incident_id
        return found

    @property
    def alive(self) -> bool:
        return _alive(self.pid, self.process)

    def wait_for(self, ready: Callable[[EngineProcess], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready(self):
                return True
            if not self.alive:
                return ready(self)
            time.sleep(0.02)
        return False

    def kill(self) -> None:
        _kill(self.pid, self.process)

    def signal(self, signum: signal.Signals) -> None:
        os.kill(self.pid, signum)


def make_site(root: Path, groups: int, database_url: str | None = None, per_group: int = 1) -> Site:
    """A village directory (40 joint-defense groups) in ``database_url`` (default: SQLite in ``root``),
    and ``groups`` callers: one line per group first, then (``per_group`` > 1) a second household's, ..."""
    database_url = database_url or f"sqlite:///{root / 'callcenter.db'}"
    migrate(database_url)
    roster = generate_roster(VILLAGE, seed=7)
    engine = make_engine(database_url)
    RosterStore(engine).apply(roster)
    engine.dispose()
    (root / "escalation.yaml").write_text(FAST_POLICY, encoding="utf-8")
    by_group: dict[tuple[str, str, str, str], list[str]] = {}
    for household in roster.households:
        group = by_group.setdefault((household.town, household.village, household.grid, household.group), [])
        if household.lines and len(group) < per_group:
            group.append(household.lines[0])
    callers = [lines[i] for i in range(per_group) for lines in by_group.values() if i < len(lines)]
    return Site(root, database_url, callers[:groups], PlacementLog(root / "placements.jsonl"))


# A submitted SMS is out of our hands: the provider delivers it whether or not we are still running.
DONE_STATUSES = {str(s) for s in LegStatus if s.is_final} | {str(LegStatus.SUBMITTED)}


def unfinished(store: SqlIncidentStore) -> dict[str, str]:
    """Incidents still on their way: legs not final, or alerting below the top level."""
    waiting = {}
    for row in store.incidents(limit=10_000):
        legs = store.legs(row.id)
        open_legs = [leg.id for leg in legs if leg.status not in DONE_STATUSES]
        if open_legs:
            waiting[row.id] = f"{len(open_legs)} legs not final, e.g. {open_legs[0]}"
        elif row.status == "alerting" and (row.level < TOP_LEVEL or row.next_escalation_at is not None):
            waiting[row.id] = f"alerting at level {row.level}"
    return waiting


def leg_rows(store: SqlIncidentStore) -> dict[str, Any]:
    return {leg.id: leg for row in store.incidents(limit=10_000) for leg in store.legs(row.id)}


def scheduler_holder(store: SqlIncidentStore) -> str | None:
    """Who holds the scheduler lease now (``instance#boot``), if anyone."""
    lease = LeaseRow.__table__  # type: ignore[attr-defined]
    query = select(lease.c.holder).where(lease.c.name == "scheduler", lease.c.expires_at > datetime.now(UTC))
    with store.engine.connect() as conn:
        holder = conn.execute(query).scalar()
    return None if holder is None else str(holder)


def eventually(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def claimed_by(store: SqlIncidentStore, prefix: str) -> set[str]:
    return {leg.id for leg in leg_rows(store).values() if (leg.claimed_by or "").startswith(prefix)}

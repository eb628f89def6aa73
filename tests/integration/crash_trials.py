"""kill -9 trials during fan-out, shared by the crash test (20 trials) and ``bench/crash.py`` (100).

Each trial starts an engine process (``python -m callcenter.standalone``, forked from the fork
server) on the site's database, presses one or two households' keys and kills the process with
SIGKILL at a seeded random moment: while it starts, while it stores the press, while legs are
being placed, while outcomes come in, while it recovers what an earlier victim left. A survivor
then runs to the end. The placement log (fsynced before each channel reply) is the ground truth
of what was placed; :func:`check_placements` compares it with the database.

Escalation resumed: a process started while incidents of earlier (killed) processes were still
unfinished has *resumed* them at the first placement it logs for a leg of one of those incidents
(an interrupted leg replaced, a due leg or redial placed, a new level's leg after an overdue
escalation fired). :attr:`Restart.resume_seconds` is the time from spawning the process to that
placement, both on the wall clock of this machine.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine_process import TOP_LEVEL, EngineProcess, Site, leg_rows, unfinished

from callcenter.db.incident_repo import SqlIncidentStore
from callcenter.domain.types import LegStatus

SEED = 995


@dataclass
class Restart:
    """One engine process, started while ``pending`` incidents were left unfinished by killed ones."""

    name: str
    pid: int
    started_at: float  # time.time() just before the process was spawned
    pending: frozenset[str]
    resumed_at: float | None = None
    killed_in_startup: bool = False  # a trial that kills anywhere from start-up on, on purpose

    @property
    def resume_seconds(self) -> float | None:
        return None if self.resumed_at is None else self.resumed_at - self.started_at

    def observe(self, placements: list[dict[str, Any]]) -> float | None:
        """The first placement this process logged for a leg of an incident it inherited."""
        times = [p["at"] for p in placements if p["pid"] == self.pid and incident_of(p["leg"]) in self.pending]
        self.resumed_at = min(times, default=None)
        return self.resumed_at


@dataclass
class TrialRun:
    reported: dict[str, str] = field(default_factory=dict)  # caller → incident id, as the processes printed
    restarts: list[Restart] = field(default_factory=list)


def incident_of(leg_id: str) -> str:
    return leg_id.split("/", 1)[0]


def start(site: Site, store: SqlIncidentStore, name: str, presses: list[str], forked: bool = True,
          ) -> tuple[EngineProcess, Restart]:
    pending = frozenset(unfinished(store))
    started_at = time.time()
    process = site.start(name, presses, forked=forked)
    return process, Restart(name, process.pid, started_at, pending)


def wait_resumed(site: Site, restart: Restart, process: EngineProcess, timeout: float) -> bool:
    """Until ``restart`` placed a leg of an inherited incident (or died, or ``timeout`` passed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.alive:
        if restart.observe(site.log.read()) is not None:
            return True
        time.sleep(0.1)
    return restart.observe(site.log.read()) is not None


def stored_all(presses: list[str]) -> Callable[[EngineProcess], bool]:
    return lambda process: set(presses) <= set(process.incidents())


def run_trials(site: Site, rng: random.Random, trials: int, resume_timeout: float = 0.0) -> TrialRun:
    """Start, press and kill ``trials`` times. With ``resume_timeout``, each process that inherited
    unfinished incidents is first given that long to resume them (the benchmark times every restart)."""
    run = TrialRun()
    callers = iter(site.callers)
    store = site.store
    for trial in range(trials):
        presses = [next(callers)] + ([next(callers)] if trial % 3 == 0 else [])
        process, restart = start(site, store, f"trial{trial:03d}", presses)
        if trial % 5 == 4:
            # Anywhere from start-up to fan-out: the press may not even be stored yet.
            restart.killed_in_startup = True
            process.wait_for(lambda p: False, rng.uniform(0.0, 0.8))
        else:
            stored = process.wait_for(stored_all(presses), 30)
            assert stored, f"trial {trial}: no press stored within 30 s:\n{process.output()}"
            if resume_timeout and restart.pending:
                wait_resumed(site, restart, process, resume_timeout)
            process.wait_for(lambda p: False, rng.uniform(0.0, 1.0))
        process.kill()
        restart.observe(site.log.read())
        run.restarts.append(restart)
        run.reported |= process.incidents()
    store.engine.dispose()
    return run


@dataclass
class Findings:
    """What the placement log and the database say after the trials; every list must be empty."""

    incidents: int
    legs: int
    placements: int
    lost_incidents: list[str]
    placed_twice: list[str]
    placed_unknown: list[str]
    handed_over_unlogged: list[str]
    never_placed: list[str]
    interrupted_not_replaced: list[str]
    unfinished_escalations: list[str]
    interrupted: int
    interrupted_after_placing: int
    max_level: int
    redials: int

    def problems(self) -> dict[str, list[str]]:
        names = ("lost_incidents", "placed_twice", "placed_unknown", "handed_over_unlogged", "never_placed",
                 "interrupted_not_replaced", "unfinished_escalations")
        return {name: getattr(self, name) for name in names if getattr(self, name)}


def check_placements(site: Site, store: SqlIncidentStore, reported: dict[str, str]) -> Findings:
    placements = site.log.read()
    legs = leg_rows(store)
    incidents = {row.id: row for row in store.incidents(limit=100_000)}
    placed = Counter(p["leg"] for p in placements)
    handed_over = {leg_id for leg_id, leg in legs.items() if LegStatus(leg.status).was_placed and not leg.interrupted}
    interrupted = [leg for leg in legs.values() if leg.interrupted]
    return Findings(
        incidents=len(incidents), legs=len(legs), placements=len(placements),
        lost_incidents=sorted(set(reported.values()) - set(incidents)),
        placed_twice=sorted(leg for leg, times in placed.items() if times > 1),
        placed_unknown=sorted(set(placed) - set(legs))
        + [p["leg"] for p in placements if p["leg"] in legs and legs[p["leg"]].attempt != p["attempt"]],
        handed_over_unlogged=sorted(handed_over - set(placed)),
        # Every planned leg was placed, or dropped unplaced because help was confirmed, or cut by a crash.
        never_placed=sorted(leg.id for leg in legs.values()
                            if leg.id not in placed and leg.status != "cancelled" and not leg.interrupted),
        interrupted_not_replaced=sorted(
            leg.id for leg in interrupted
            if _attempt(leg.id, leg.attempt + 1) not in legs and incidents[leg.incident_id].status == "alerting"),
        # Quorum met, or the top level reached with every leg final.
        unfinished_escalations=sorted(row.id for row in incidents.values()
                                      if row.status != "acknowledged"
                                      and not (row.status == "alerting" and row.level == TOP_LEVEL)),
        interrupted=len(interrupted),
        interrupted_after_placing=sum(leg.id in placed for leg in interrupted),
        max_level=max((row.level for row in incidents.values()), default=0),
        redials=sum(1 for leg in legs.values()
                    if leg.attempt > 1 and not legs[_attempt(leg.id, leg.attempt - 1)].interrupted),
    )


def _attempt(leg_id: str, attempt: int) -> str:
    """The id of another attempt of the same leg."""
    return leg_id.rsplit("/", 1)[0] + f"/{attempt}"

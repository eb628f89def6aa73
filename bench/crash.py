"""kill -9 during fan-out, many times: nothing lost, nothing placed twice, escalation resumed in time.

    .venv/bin/python -m bench.crash [--trials 100] [--databases sqlite,postgres] [--seed 995]

Per database, on a fresh scratch database with the demo village (40 joint-defense groups, four
callers per group), the trials of the process-level crash test (``tests/integration/crash_trials.py``)
run ``--trials`` times: an engine process (``python -m callcenter.standalone`` forked from a fork
server, recording channel, fast escalation policy: one second per level, lease 1.5 s) presses one
or two keys and is killed with SIGKILL at a seeded random moment; one trial in five is killed
during start-up (0-0.8 s), the others 0-1 s after their presses are stored. A survivor then runs
until every incident is finished. Unlike the test, a process that inherits unfinished incidents
is given up to 30 s to resume them before its random kill, so every restart is timed.

Reported per database:
- incidents lost: presses a process reported stored (``incident <id>``) missing from the database (goal 0);
- attempts placed twice: leg ids (one attempt each) twice in the fsynced placement log (goal 0);
  the other consistency checks of the test (nothing placed the database does not know, every leg
  handed over logged, every interrupted leg replaced, every escalation finished) as "other problems";
- escalation resumed: from spawning a process that inherits unfinished incidents to the first
  placement it logs for a leg of one of them (replacement of an interrupted leg, a due leg or
  redial, a new level's leg after an overdue escalation fired), p50/p99/max (goal <= 10 s);
  restarts killed before they resumed anything (the start-up kills) are counted apart;
- trials, incidents, legs, interrupted legs, total wall time.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import DATABASES, RESULTS, Latency, machine, scratch_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

# The crash test's trials and checks (tests/integration/crash_trials.py), shared rather than copied.
trials_module: Any = importlib.import_module("crash_trials")
engine_process: Any = importlib.import_module("engine_process")

RESUME_TIMEOUT = 30.0
RESUME_GOAL_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Result:
    database: str
    trials: int
    findings: Any  # crash_trials.Findings
    resumed: Latency | None
    restarts_inheriting: int
    killed_before_resuming: int
    never_resumed: int
    total_seconds: float


def resume_figures(restarts: list[Any], survivor: Any) -> tuple[Latency | None, int, int, int]:
    """Resume times of every restart that inherited work; start-up kills that resumed nothing apart."""
    inheriting = [r for r in [*restarts, survivor] if r.pending]
    timed = [r.resume_seconds for r in inheriting if r.resume_seconds is not None]
    early = sum(1 for r in inheriting if r.resume_seconds is None and r.killed_in_startup)
    never = len(inheriting) - len(timed) - early
    latency = Latency.of([int(s * 1e9) for s in timed], 0.0) if timed else None
    return latency, len(inheriting), early, never


def run(kind: str, trials: int, seed: int) -> Result:
    began = time.monotonic()
    with scratch_database(kind) as url, tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp:
        site = engine_process.make_site(Path(tmp), groups=trials * 2, database_url=url, per_group=4)
        store = site.store
        try:
            trial_run = trials_module.run_trials(site, random.Random(seed), trials, resume_timeout=RESUME_TIMEOUT)
            survivor, restart = trials_module.start(site, store, "survivor", [])
            unfinished = engine_process.unfinished
            if not survivor.wait_for(lambda p: not unfinished(store), 120):
                print(f"{kind}: still unfinished after 120 s: {unfinished(store)}", file=sys.stderr)
            restart.observe(site.log.read())
            survivor.kill()
        finally:
            site.stop_all()
        findings = trials_module.check_placements(site, store, trial_run.reported)
        store.engine.dispose()
    resumed, inheriting, early, never = resume_figures(trial_run.restarts, restart)
    return Result(kind, trials, findings, resumed, inheriting, early, never, time.monotonic() - began)


def report(results: list[Result]) -> str:
    head = ("| database | trials | incidents lost | attempts placed twice | other problems | resumed p50 s "
            "| p99 s | max s | restarts timed / inheriting work | killed before resuming | never resumed "
            "| incidents | legs | interrupted legs | total s |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        f, lat = r.findings, r.resumed
        other = sum(len(v) for k, v in f.problems().items() if k not in ("lost_incidents", "placed_twice"))
        timed = "-" if lat is None else f"{lat.p50_ms / 1000:.2f} | {lat.p99_ms / 1000:.2f} | {lat.max_ms / 1000:.2f}"
        lines.append(f"| {r.database} | {r.trials} | {len(f.lost_incidents)} | {len(f.placed_twice)} | {other} "
                     f"| {timed} | {lat.count if lat else 0} / {r.restarts_inheriting} | {r.killed_before_resuming} "
                     f"| {r.never_resumed} | {f.incidents} | {f.legs} | {f.interrupted} | {r.total_seconds:.0f} |")
    goal = f"escalation resumed <= {RESUME_GOAL_SECONDS:.0f} s"
    lines.append(f"\ngoals: 0 incidents lost, 0 attempts placed twice, {goal}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.crash", description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--databases", default=",".join(DATABASES))
    parser.add_argument("--seed", type=int, default=995)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}", flush=True)
    results = [run(kind.strip(), args.trials, args.seed) for kind in args.databases.split(",")]
    print(report(results))
    for r in results:
        if r.findings.problems():
            print(f"{r.database} problems: {json.dumps(r.findings.problems(), ensure_ascii=False)[:2000]}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"crash-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps({"machine": machine(), "load_average": os.getloadavg(), "args": vars(args),
                                "results": [asdict(r) for r in results]}, indent=2, default=str))
    print(f"results in {path}")


if __name__ == "__main__":
    main()

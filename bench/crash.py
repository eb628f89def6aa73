"""kill -9 during fan-out, many times: nothing lost, nothing placed twice, escalation resumed in time.

    .venv/bin/python -m bench.crash [--trials 100] [--databases sqlite,postgres] [--seed 995] [--channel sip]

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
- every incident resumed: the survivor (the last process, never killed) inherits every unfinished
  incident; from its spawn to its first placement for each of them, p50/p99/max;
- trials, incidents, legs, interrupted legs, total wall time.

``--channel sip``: the same trials with the SIP call channel (SMS stay on the recording channel).
Every process registers at a real Kamailio on loopback and dials every responder there; one sipp
phone rings for all of them and never answers (the service cancels after 2 s, then redials and
climbs). For calls, the phone's message trace is the ground truth instead of the placement log:
each INVITE dialog is paired with the call leg a process claimed for that number while it ran
(``crash_trials.SipLedger``), so a leg dialled twice is an attempt placed twice, and so is a number
whose phone got more INVITE dialogs than it has call legs. Resumed: to the first INVITE (or SMS) for
an inherited incident. Legs the SIP channel failed without dialling them are counted apart; one
that ends a recipient's chain of attempts is among the other problems. Kamailio's log is checked
for its shared memory running out (it then answers 500 instead of ringing the phone): must be 0.
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
sys.path[:0] = [str(ROOT / "tests" / "integration"), str(ROOT / "tests")]  # the tests' own import roots

# The crash test's trials and checks (tests/integration/crash_trials.py), shared rather than copied.
trials_module: Any = importlib.import_module("crash_trials")
engine_process: Any = importlib.import_module("engine_process")

RESUME_TIMEOUT = 30.0
RESUME_GOAL_SECONDS = 10.0
# The survivor re-places every call a hundred kills left unfinished (thousands, ringing 2 s each).
# Killed before it is done, its own queued legs would count as handed over and never placed.
SURVIVOR_SECONDS = 600.0
CHANNELS = ("recording", "sip")


@dataclass(frozen=True, slots=True)
class Result:
    database: str
    channel: str
    trials: int
    findings: Any  # crash_trials.Findings
    surplus_invites: dict[str, tuple[int, int]]  # SIP: number → (INVITE dialogs, call legs stored)
    resumed: Latency | None
    restarts_inheriting: int
    killed_before_resuming: int
    never_resumed: int
    total_seconds: float
    registrar_out_of_memory: int = 0  # SIP: Kamailio log lines saying its shared memory ran out
    survivor_incidents: Latency | None = None  # survivor: to the first placement of each inherited incident
    survivor_untouched: int = 0  # inherited incidents the survivor placed nothing for
    # SIP: calls ringing when their process was killed: seconds from the next start to their CANCEL
    left_ringing: tuple[float | None, ...] = ()


def resume_figures(restarts: list[Any], survivor: Any) -> tuple[Latency | None, int, int, int]:
    """Resume times of every restart that inherited work; start-up kills that resumed nothing apart."""
    inheriting = [r for r in [*restarts, survivor] if r.pending]
    timed = [r.resume_seconds for r in inheriting if r.resume_seconds is not None]
    early = sum(1 for r in inheriting if r.resume_seconds is None and r.killed_in_startup)
    never = len(inheriting) - len(timed) - early
    latency = Latency.of([int(s * 1e9) for s in timed], 0.0) if timed else None
    return latency, len(inheriting), early, never


def each_incident(restart: Any, placements: list[dict[str, Any]]) -> tuple[Latency | None, int]:
    """From spawning ``restart`` to its first placement for each incident it inherited; and how many
    inherited incidents it placed nothing for (finished meanwhile, or a redial not yet due)."""
    first: dict[str, float] = {}
    for p in placements:
        incident = trials_module.incident_of(p["leg"])
        if p["pid"] == restart.pid and incident in restart.pending:
            first[incident] = min(first.get(incident, p["at"]), p["at"])
    waits = [int((at - restart.started_at) * 1e9) for at in first.values()]
    return (Latency.of(waits, 0.0) if waits else None), len(restart.pending) - len(first)


def run(kind: str, trials: int, seed: int, channel: str = "recording") -> Result:
    began = time.monotonic()
    site_of = trials_module.sip_site if channel == "sip" else trials_module.recording_site
    with (scratch_database(kind) as url, tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp,
          site_of(Path(tmp), groups=trials * 2, database_url=url, per_group=4) as (site, ledger)):
        store = site.store
        trial_run = trials_module.run_trials(site, random.Random(seed), trials, resume_timeout=RESUME_TIMEOUT,
                                             ledger=ledger)
        survivor, restart = trials_module.start(site, store, "survivor", [], seconds=SURVIVOR_SECONDS + 30)
        unfinished = engine_process.unfinished
        if not survivor.wait_for(lambda p: not unfinished(store), SURVIVOR_SECONDS):
            left = unfinished(store)
            print(f"{kind}: {len(left)} incidents still unfinished after {SURVIVOR_SECONDS:.0f} s: "
                  f"{dict(list(left.items())[:5])}", file=sys.stderr)
        survivor.kill()
        placements = ledger.read([*trial_run.restarts, restart])
        restart.observe(placements)
        survivor_incidents, untouched = each_incident(restart, placements)
        findings = trials_module.check_placements(site, store, trial_run.reported, placements, sip=channel == "sip")
        surplus = ledger.surplus_invites() if channel == "sip" else {}
        out_of_memory = ledger.registrar.out_of_memory() if channel == "sip" else 0
        ringing = tuple(ledger.left_ringing([*trial_run.restarts, restart])) if channel == "sip" else ()
        store.engine.dispose()
    resumed, inheriting, early, never = resume_figures(trial_run.restarts, restart)
    return Result(kind, channel, trials, findings, surplus, resumed, inheriting, early, never,
                  time.monotonic() - began, out_of_memory, survivor_incidents, untouched, ringing)


def left_ringing_line(delays: Sequence[float | None]) -> str:
    """Calls a killed process left ringing, and how soon after the next start their CANCEL came."""
    came = sorted(d for d in delays if d is not None)
    if not came:
        return f"calls left ringing at the kills: {len(delays)}, none cancelled"
    timed = Latency.of([int(d * 1e9) for d in came], 0.0)
    return (f"calls left ringing at the kills: {len(delays)}; cancelled p50 {timed.p50_ms / 1000:.2f} s, "
            f"max {timed.max_ms / 1000:.2f} s after the next process started; never cancelled: "
            f"{len(delays) - len(came)} (Kamailio's fr_inv_timer would end them after 120 s)")


def report(results: list[Result]) -> str:
    head = ("| database | channel | trials | incidents lost | attempts placed twice | other problems | resumed p50 s "
            "| p99 s | max s | restarts timed / inheriting work | killed before resuming | never resumed "
            "| incidents | legs | interrupted legs | total s |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        f, lat = r.findings, r.resumed
        other = sum(len(v) for k, v in f.problems().items() if k not in ("lost_incidents", "placed_twice"))
        timed = "-" if lat is None else f"{lat.p50_ms / 1000:.2f} | {lat.p99_ms / 1000:.2f} | {lat.max_ms / 1000:.2f}"
        twice = len(f.placed_twice) + len(r.surplus_invites)
        lines.append(f"| {r.database} | {r.channel} | {r.trials} | {len(f.lost_incidents)} | {twice} | {other} "
                     f"| {timed} | {lat.count if lat else 0} / {r.restarts_inheriting} | {r.killed_before_resuming} "
                     f"| {r.never_resumed} | {f.incidents} | {f.legs} | {f.interrupted} | {r.total_seconds:.0f} |")
    goal = f"escalation resumed <= {RESUME_GOAL_SECONDS:.0f} s"
    for r in results:
        each = r.survivor_incidents
        timed = "-" if each is None else (f"p50 {each.p50_ms / 1000:.2f} s, p99 {each.p99_ms / 1000:.2f} s, "
                                         f"max {each.max_ms / 1000:.2f} s over {each.count}")
        lines.append(f"\n{r.database}: the survivor's first placement for each incident it inherited: {timed}; "
                     f"{r.survivor_untouched} inherited incidents with nothing placed")
    for r in results:
        if r.channel == "sip":
            f = r.findings
            lines.append(f"\n{r.database}: {len(f.failed_unplaced)} call legs failed by the SIP channel without "
                         f"being dialled, {len(f.ended_unplaced)} of them ending a recipient's attempts; "
                         f"Kamailio out of shared memory: {r.registrar_out_of_memory} log lines (must be 0, "
                         "or Kamailio answered 500 instead of ringing the phone)")
            lines.append(f"{r.database}: {left_ringing_line(r.left_ringing)}")
    lines.append(f"\ngoals: 0 incidents lost, 0 attempts placed twice, {goal}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.crash", description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--databases", default=",".join(DATABASES))
    parser.add_argument("--seed", type=int, default=995)
    parser.add_argument("--channel", choices=CHANNELS, default="recording",
                        help="alert calls on the recording channel, or over SIP through Kamailio to sipp")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}", flush=True)
    results = [run(kind.strip(), args.trials, args.seed, args.channel) for kind in args.databases.split(",")]
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

"""Mass event: a flood of key presses through Kamailio against district-scale demo data.

    .venv/bin/python -m bench.mass_event [--presses 1000] [--seconds 60] [--max-channels 60]
        [--drain-cap none] [--baseline REV [--baseline-cap 600]]

sipp households (tests/sip/scenarios/household_press_hold.xml) dial 995 through Kamailio
(config/kamailio/demo.cfg), one call per press spread evenly over ``--seconds``, each staying on the
line silent for 3 s then hanging up: distinct households drawn over the whole district (5 % of them a
second household of an already pressing joint-defense group) and 5 % callers the directory does not
know. The service runs in this process as `callcenter serve` wires it: SQLite, the SIP channel with
``--max-channels`` trunk channels, the console API. Responders are the demo's simulated sipp phones
behind Kamailio, by a number's last digit: 0-5 answer and press 1, 6-7 press 2, 8 busy (486),
9 never answer.

Measured: incidents stored against the list of presses; press (the household's INVITE leaving
sipp, from sipp's message trace) → incident on the operator's screen (in a process of its own, as
an operator's browser is: the console's live event stream, whose "opened" event carries the row the
page shows at once; its incident list refetched 100 ms after a burst of events, as the page does)
and → first responder ringing (the 180's leg status as stored); the SIP channel's queue (every push and
pop recorded under its lock) replayed against the incidents' stored press times; the queue and
calls up every second; CPU and RSS of this process (the service and the sampler). To tell where a
slow press waited: each press listed later than 1 s with the second of the run it came in, pauses of
the whole process, cyclic collections, every write turn of the engine, and the speech synthesizer's runs.

Per incident, from the database after the run (``bench/mass_incidents.py``): press → first neighbour
(level-0 call) ringing, → quorum, → first acknowledgement (p50/p90/p99/max, and how many never got
there); calls placed per level; summaries sent; upper-level calls placed before the incident's
neighbours were called; how many of the incidents that can meet the quorum (the plan's responders
that press 1 by the rule above) met it; and the trunk's bound, incidents × mean call holding time ÷
channels, against which p99 press → first ringing is judged (goal: ≤ 1.2 × bound).

The run lasts until no leg waits, no call is up and nothing is planned for later (a redial, an
incident's next level) for ``--quiet`` s. ``--drain-cap`` (s) bounds that wait; ``none`` (the
default) or ``0`` waits as long as it takes, up to a safety cap of 3 h that counts as a failure.
``--baseline REV`` then runs the same presses (same seed) against the code of REV, its drain bounded
by ``--baseline-cap`` (``bench/mass_baseline.py`` says how), and prints both side by side.

``--smpp`` sends the SMS over SMPP to Jasmin, the real SMPP server (bench/mass_smpp.py), and then waits
until every SMS leg has a final state. ``--twilio`` sends alert calls and SMS through Twilio paths to
the local emulator at Twilio's default rates (1/s per number and per account) instead of SIP;
households still press over SIP.
Results go to bench/results/mass-event-<time>.json; figures to docs/benchmarks.md ("Mass event").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import mass_analysis as analysis
from bench import mass_baseline, mass_incidents, mass_report
from bench.common import RESULTS, ROOT, machine
from bench.mass_incidents import Dials
from bench.mass_stack import (
    DemoSip,
    Press,
    QueueEntry,
    Service,
    choose_presses,
    households_press,
    press_times,
    start_service,
)
from bench.mass_watch import PauseWatch, Sampler, ScreenProcess

TEMPLATE = RESULTS / "mass-event-district" / "callcenter.db"


def district_template(scale: str = "district") -> Path:
    """The demo directory at ``scale``, built once with this tree's CLI and copied for every run."""
    template = TEMPLATE if scale == "district" else RESULTS / f"mass-event-{scale}" / "callcenter.db"
    if template.exists():
        return template
    data_dir = template.parent
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")},
           "CALLCENTER_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-c", "from callcenter.cli import main; main()"]  # this tree's, in a baseline's too
    for command in (["init-db"], ["demo-data", "--scale", scale]):
        subprocess.run([*cli, *command], env=env, cwd=ROOT, check=True, capture_output=True, timeout=900)
    return template


SAFETY_CAP_S = 3 * 3600.0  # "no cap" still ends: reaching this is reported as a failure


def drain_cap(text: str) -> float | None:
    """``--drain-cap``: seconds, or ``0``/``none`` for no cap."""
    if text.strip().lower() in ("0", "none", "no"):
        return None
    seconds = float(text)
    if seconds < 0:
        raise argparse.ArgumentTypeError("the drain cap is seconds ≥ 0, or none")
    return seconds or None


def wait_drained(sampler: Sampler, quiet_s: float, cap_s: float | None) -> dict[str, Any]:
    """Until no leg waits, no call is up and nothing is planned for later (``Sample.settled``: no redial
    due later, no incident yet to climb a level) for ``quiet_s`` on end, or ``cap_s`` passed (None: no
    cap but the safety cap). When the queue itself emptied is taken from the samples afterwards."""
    began = time.monotonic()
    deadline, quiet_since = began + (cap_s if cap_s is not None else SAFETY_CAP_S), None
    drained = False
    while time.monotonic() < deadline and not drained:
        if sampler.take().settled:
            quiet_since = quiet_since or time.monotonic()
            drained = time.monotonic() - quiet_since >= quiet_s
        else:
            quiet_since = None
        time.sleep(0.5)
    return {"drained": drained, "cap_s": cap_s, "waited_s": time.monotonic() - began,
            "safety_cap_hit": cap_s is None and not drained}


def _smpp() -> Any:
    """bench/mass_smpp.py, imported only for ``--smpp``: it needs the Jasmin rig of tests/, which a
    baseline revision older than #22 does not have (its bench files are this tree's)."""
    from bench import mass_smpp

    return mass_smpp


def run(args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    data_dir = run_dir / "data"
    data_dir.mkdir(parents=True)
    shutil.copy(district_template(args.scale), data_dir / "callcenter.db")
    presses = choose_presses(data_dir / "callcenter.db", args.presses, args.seed)
    sip = DemoSip(run_dir / "sip").start()
    twilio = TwilioPaths(args) if args.twilio else None
    smpp = _smpp().SmppPath(run_dir) if args.smpp else None
    extra = twilio.settings(presses, data_dir) if twilio else smpp.settings() if smpp else None
    try:
        service = start_service(data_dir, sip.port, args.max_channels, args.ring_timeout, extra)
        try:
            result = measure(args, run_dir, presses, sip, service)
            if smpp:
                result["smpp"] = smpp.wait_final(service.db_path, cap_s=900.0)
        finally:
            service.stop()
        return result | ({"twilio": twilio.report()} if twilio else {})
    finally:
        if twilio:
            twilio.stop()
        if smpp:
            smpp.stop()
        sip.stop()


def measure(args: argparse.Namespace, run_dir: Path, presses: list[Press], sip: DemoSip,
            service: Service) -> dict[str, Any]:
    screen = ScreenProcess(service.base_url).start()
    sampler = Sampler(service).start()
    pauses = PauseWatch().start()
    started = time.time()
    households = households_press(run_dir / "households", sip.port, presses, args.seconds)
    sipp_rc = households.wait(args.seconds + 180)
    pressed_until = time.time()
    drained = wait_drained(sampler, quiet_s=args.quiet, cap_s=args.drain_cap)
    sampler.stop()
    pauses.stop()
    screen.stop()
    sent = press_times(run_dir / "households" / "households-messages.log")
    first_press = min(sent.values(), default=started)
    return report(args, presses, service, screen, sampler, sent) | {
        "pauses": pauses.report(first_press),
        "write_turns": write_turns_report(service, first_press),
        "synthesizer": synthesizer_report(service, first_press),
        "announcements_rendered_ahead": service.container.announcement_warmer.rendered,
        "sipp_exit_code": sipp_rc, "sipp_errors": households.errors()[-800:] if sipp_rc else "",
        "presses_wall_s": pressed_until - started, "drained": drained["drained"], "drain_wait": drained,
        "screen_errors": screen.errors[:5],
        "registrar_out_of_memory": sip.registrar_out_of_memory(),
    }


def report(args: argparse.Namespace, presses: list[Press], service: Service, screen: ScreenProcess,
           sampler: Sampler, sent: dict[str, float]) -> dict[str, Any]:
    db = service.db_path
    incidents = analysis.stored_incidents(db)
    accounting = analysis.account(presses, incidents)
    by_line = {p.line: sent[p.dialled] for p in presses if p.dialled in sent}
    pressed = {i.id: by_line[i.caller] for i in incidents if i.caller in by_line}
    events = analysis.leg_events(db)
    ringing = analysis.first_ringing(events)
    opened = {i.id: i.opened_at for i in incidents}
    by_dialled = {p.dialled: p.line for p in presses}
    line_to_id = {i.caller: i.id for i in incidents}
    hook = {line_to_id[by_dialled[n]]: t for n, t in service.opened.items() if by_dialled.get(n) in line_to_id}
    hooked = {i: t[0] for i, t in hook.items()}
    stored = {i: t[1] for i, t in hook.items()}
    entries = service.queue.entries if service.queue is not None else []
    queue = analysis.check_queue(entries, opened)
    last = max(pressed, key=lambda i: pressed[i]) if pressed else None
    return {
        "presses": len(presses), "presses_timed": len(pressed), "accounting": asdict(accounting) | {
            "exact": accounting.exact},
        "press_to_stored_ms": analysis.quantiles(analysis.delays_ms(pressed, stored).values()),
        "press_to_hook_ms": analysis.quantiles(analysis.delays_ms(pressed, hooked).values()),
        "press_to_announced_ms": analysis.quantiles(analysis.delays_ms(pressed, screen.announced).values()),
        "press_to_listed_ms": analysis.quantiles(analysis.delays_ms(pressed, screen.listed).values()),
        "listed_over_1s": sum(1 for v in analysis.delays_ms(pressed, screen.listed).values() if v > 1000),
        "listed_over_1s_at": slow_presses(pressed, hooked, stored, screen.listed),
        "press_to_first_ringing_ms": analysis.quantiles(analysis.delays_ms(pressed, ringing).values()),
        "last_incident_press_to_first_ringing_ms": (1000 * (ringing[last] - pressed[last])
                                                    if last in ringing else None),
        "per_incident": incidents_report(service, pressed, entries, (args.max_channels,
                                                                      analysis.channel_seconds(sampler.samples))),
        "queue": {"recorded": service.queue is not None, "pops": queue.pops, "out_of_order": queue.out_of_order,
                  "max_calls_up": queue.max_calls_up,
                  "limit": args.max_channels, "incidents_overtaken": queue.overtaken,
                  "waited_ms": analysis.quantiles(queue.waited_ms.values())},
        "drain": analysis.drain(sampler.samples, max(by_line.values(), default=time.time())),
        "process": analysis.process_use(sampler.samples),
        "legs": analysis.outcome_counts(analysis.leg_rows(db)),
        "incident_status": dict(sorted(_count(i.status for i in incidents).items())),
        "screen_refetches": screen.refetches,
        "screen_pushed_rows": screen.pushed,
    }


def incidents_report(service: Service, pressed: dict[str, float], entries: list[QueueEntry],
                     trunk: tuple[int, float]) -> dict[str, Any]:
    dials = Dials({e.leg_id: e.at for e in reversed(entries) if e.kind == "pop"},
                  frozenset(e.leg_id for e in entries if e.kind == "push"), service.queue is not None)
    return mass_incidents.analyse(service.db_path, pressed, dials, trunk, ROOT / "config" / "escalation.yaml")


def slow_presses(pressed: dict[str, float], hooked: dict[str, float], stored: dict[str, float],
                 listed: dict[str, float]) -> list[list[float]]:
    """[second of the run the key was pressed in, press → hook, → stored, → listed ms] of each press
    listed later than 1 s: a tail that falls in one second points at one pause of the process."""
    first = min(pressed.values(), default=0.0)
    slow = [i for i, ms in analysis.delays_ms(pressed, listed).items() if ms > 1000]
    return sorted([round(pressed[i] - first, 2), *(round(1000 * (t[i] - pressed[i])) if i in t else -1
                                                   for t in (hooked, stored, listed))] for i in slow)


def write_turns_report(service: Service, since: float) -> dict[str, Any]:
    """The engine's writes: how long each held its turn, by what; the longest, and the first 5 s."""
    turns = service.container.runtime.engine.write_turns
    held = getattr(turns, "held", [])
    rows = [[round(at - since, 3), round(1000 * waited), round(1000 * took), tier, by]
            for at, waited, took, tier, by in held]
    return {"count": len(rows), "held_ms": analysis.quantiles([r[2] for r in rows]),
            "longest": sorted(rows, key=lambda r: -r[2])[:15],
            "first_5s": [r for r in rows if r[0] <= 5.0]}


def synthesizer_report(service: Service, since: float) -> dict[str, int]:
    """Speech synthesizer runs (a process each) and the distinct texts they spoke; also in the first 5 s."""
    runs = getattr(service.container.prompt_library.synthesizer, "runs", [])
    early = [text for at, text in runs if at - since <= 5.0]
    return {"runs": len(runs), "texts": len({text for _, text in runs}),
            "runs_first_5s": len(early), "texts_first_5s": len(set(early))}


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


class TwilioPaths:
    """The local Twilio emulator; alert calls prefer Twilio over SIP, SMS go through Twilio."""

    def __init__(self, args: argparse.Namespace) -> None:
        from tests.twilio_emulator import Emulator  # only this variant needs it

        self.emulator = Emulator(step_seconds=0.02).start()

    def settings(self, presses: list[Press], data_dir: Path) -> dict[str, Any]:
        routes = data_dir / "channels.yaml"
        routes.write_text("call:\n  mobile: [twilio, sip]\n  landline: [twilio, sip]\n  extension: [sip]\n"
                          "sms:\n  mobile: [twilio]\n  landline: []\n  extension: []\n"
                          "health_check_seconds: 1\nrecheck_seconds: 30\n")
        self._script_responders(data_dir / "callcenter.db")
        return {"engine": {"sms_channel": "twilio"},
                "twilio": {"enabled": True, "account_sid": self.emulator.account_sid,
                           "auth_token": self.emulator.auth_token, "api_base_url": self.emulator.base_url,
                           "call_from": ["+8610000000001"], "sms_from": ["+8610000000002"],
                           "routes_file": str(routes)}}

    def _script_responders(self, db: Path) -> None:
        import sqlite3

        outcome = {**dict.fromkeys("012345", "answer+1"), "6": "answer+2", "7": "answer+2", "8": "busy",
                   "9": "no-answer"}
        with sqlite3.connect(db) as conn:
            for (phone,) in conn.execute("SELECT DISTINCT phone FROM responder"):
                self.emulator.script(phone, outcome[phone[-1]], kind="call")

    def report(self) -> dict[str, Any]:
        """Per kind: requests accepted, the span from the first to the last, the most in any second."""
        found: dict[str, Any] = {}
        for kind in ("call", "sms"):
            arrivals = sorted(r.at for r in self.emulator.api_requests(kind))
            span = arrivals[-1] - arrivals[0] if arrivals else 0.0
            found[kind] = {"requests": len(arrivals), "created": len(self.emulator.created(kind)),
                           "first_to_last_s": span, "per_second": (len(arrivals) - 1) / span if span else 0.0,
                           "most_in_any_second": self.emulator.max_in_window(kind)}
        return found

    def stop(self) -> None:
        self.emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presses", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-channels", type=int, default=60)
    parser.add_argument("--ring-timeout", type=float, default=30.0)
    parser.add_argument("--scale", default="district", choices=["village", "town", "district"])
    parser.add_argument("--seed", type=int, default=995)
    parser.add_argument("--quiet", type=float, default=10.0, help="seconds without calls that end the drain")
    parser.add_argument("--drain-cap", type=drain_cap, default=None,
                        help="longest wait for the drain (s); none or 0 (default): until drained, safety cap 3 h")
    parser.add_argument("--baseline", metavar="REV", help="then run the same presses on REV's code, side by side")
    parser.add_argument("--baseline-cap", type=drain_cap, default=600.0, help="the baseline's drain cap (s)")
    parser.add_argument("--twilio", action="store_true", help="alert calls and SMS through the Twilio emulator")
    parser.add_argument("--smpp", action="store_true", help="SMS over SMPP to Jasmin (the real SMPP server)")
    parser.add_argument("--keep", action="store_true", help="keep the run directory (database, sipp traces)")
    parser.add_argument("--out", type=Path, help="results file (default bench/results/mass-event-<time>.json)")
    args = parser.parse_args()
    began = datetime.now(UTC)
    result = run_once(args, began)
    runs = {"this code": result}
    if args.baseline:
        same = ["--presses", str(args.presses), "--seconds", str(args.seconds), "--max-channels",
                str(args.max_channels), "--ring-timeout", str(args.ring_timeout), "--scale", args.scale,
                "--seed", str(args.seed), "--quiet", str(args.quiet), *(["--twilio"] if args.twilio else []),
                *(["--keep"] if args.keep else [])]
        result["baseline"] = mass_baseline.run(args.baseline, same, args.baseline_cap, args.quiet)
        runs[f"baseline {args.baseline}"] = result["baseline"]
    out = args.out or RESULTS / f"mass-event-{began:%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str))
    mass_report.print_summary(result)
    if "smpp" in result:
        _smpp().print_report(result["smpp"])
    mass_report.print_side_by_side(runs)
    print(f"results: {out}")


def run_once(args: argparse.Namespace, began: datetime) -> dict[str, Any]:
    run_dir = Path(tempfile.mkdtemp(prefix="bench-mass-event-"))
    load_before = os.getloadavg()
    try:
        result = run(args, run_dir)
    finally:
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    return result | {"args": vars(args), "machine": machine(), "started": began.isoformat(timespec="seconds"),
                     "load_before": load_before, "load_after": os.getloadavg(), "run_dir": str(run_dir),
                     "commit": _commit()}


def _commit() -> str:
    done = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    return done.stdout.strip()


if __name__ == "__main__":
    main()

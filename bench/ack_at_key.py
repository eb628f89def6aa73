"""A neighbour's "1": the key leaving the phone → the leg acknowledged in the database → on the
operators' live stream.

    .venv/bin/python -m bench.ack_at_key [--presses 12] [--listen-s 12]

The service runs as `callcenter serve` wires it (SQLite with the district demo directory, the shipped
IVR flows and policy, the SIP channel, the console API) behind Kamailio with the demo's four
simulated phones, every one of them running ``neighbour_press_1_logged``: answer, press 1 (RFC 2833)
1.5 s after the ACK, keep listening to the thanks until the service hangs up. One household of a
twenty-neighbour joint-defense group presses at a time, so twenty alert calls are up together; the
next presses once they have all ended (or after ``--listen-s``).

Per acknowledged leg:
- *key*: the phone's log line written just before the key's first RTP packet leaves (sipp's
  ``[timestamp]``, epoch µs), matched to the leg by the number the INVITE dialled;
- *stored*: the leg's "acknowledged" published by the engine, which happens after its commit
  (an in-process subscriber of the event bus);
- *on screen*: the same event arriving on an operator's live stream (``GET /api/events``) read in a
  process of its own, as a browser is (bench.mass_watch.ScreenProcess).
Also counted: legs acknowledged, and keys stored only after the service hung up (the old behaviour,
about 8 s after the key). Figures go to docs/benchmarks.md with this command.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import ROOT, machine
from bench.mass_event import district_template
from bench.mass_stack import DemoSip, Press, Service, households_press, national, start_service
from bench.mass_watch import ScreenProcess
from bench.sip import twenty_neighbour_callers
from callcenter.adapters.events import Published

PHONE = "neighbour_press_1_logged"
PRESSED = "pressed 1 to INVITE sip:"
RESULTS = ROOT / "bench" / "results"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else float("nan")


@dataclass
class StoredAcks:
    """When each leg's "acknowledged" was published (after its commit), epoch s."""

    at: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, item: Published) -> None:
        if item.event.kind == "leg_status" and item.event.data.get("status") == "acknowledged":
            with self._lock:
                self.at.setdefault(str(item.event.data["leg"]), time.time())


def keys_pressed(sip_dir: Path) -> dict[str, list[float]]:
    """Number dialled (national form) → when its phone sent 1, from the phones' -trace_logs files."""
    pressed: dict[str, list[float]] = {}
    for log in sip_dir.glob(f"{PHONE}-*-logs.log"):
        for line in log.read_text(errors="replace").splitlines():  # "date\ttime\tepoch pressed 1 to …"
            stamp, found, number = line.partition(f" {PRESSED}")
            if found:
                pressed.setdefault(national(number.strip()), []).append(float(stamp.split("\t")[-1]))
    return pressed


def call_legs(db: Path) -> list[tuple[str, str, str]]:
    """(leg id, recipient phone, status) of every alert call leg."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, recipient_phone, status FROM alert_leg "
                            "WHERE channel = 'call' AND purpose = 'alert'").fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def wait_calls_ended(service: Service, cap_s: float) -> None:
    deadline = time.monotonic() + cap_s
    time.sleep(1.0)
    while time.monotonic() < deadline and (service.container.sip_service.channel.active_calls
                                           or len(service.container.sip_service.channel.queue)):
        time.sleep(0.1)


def run(args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    data_dir = run_dir / "data"
    data_dir.mkdir(parents=True)
    shutil.copy(district_template(), data_dir / "callcenter.db")
    callers = twenty_neighbour_callers(data_dir / "callcenter.db", args.presses)
    sip = DemoSip(run_dir / "sip", phones=(PHONE,) * 4).start()
    try:
        service = start_service(data_dir, sip.port, max_channels=60, ring_timeout=30.0)
        stored = StoredAcks()
        unsubscribe = service.container.events.subscribe(stored)
        try:
            screen = ScreenProcess(service.base_url).start()
            for n, (line, _) in enumerate(callers):
                households_press(run_dir / f"press-{n}", sip.port, [Press(line, national(line), None)],
                                 1.0).wait(30)
                wait_calls_ended(service, args.listen_s)
            screen.stop()
        finally:
            unsubscribe()
            service.stop()
    finally:
        sip.stop()
    return report(callers, keys_pressed(sip.run_dir), stored.at, screen, call_legs(data_dir / "callcenter.db"))


def report(callers: list[tuple[str, list[str]]], pressed: dict[str, list[float]], stored: dict[str, float],
           screen: ScreenProcess, legs: list[tuple[str, str, str]]) -> dict[str, Any]:
    to_db, to_screen, unmatched = [], [], 0
    acknowledged = [(leg, phone) for leg, phone, status in legs if status == "acknowledged"]
    for leg, phone in acknowledged:
        at_db = stored.get(leg)
        keys = [k for k in pressed.get(national(phone), []) if at_db is None or k <= at_db]
        if at_db is None or not keys:
            unmatched += 1
            continue
        key = max(keys)  # the press of this call: the phone's latest key before the leg was stored
        to_db.append(1000 * (at_db - key))
        if leg in screen.acknowledged:
            to_screen.append(1000 * (screen.acknowledged[leg] - key))
    return {
        "machine": machine(), "households_pressed": len(callers),
        "neighbours_called": sum(len(phones) for _, phones in callers), "call_legs": len(legs),
        "acknowledged": len(acknowledged), "keys_pressed": sum(len(v) for v in pressed.values()),
        "unmatched": unmatched, "screen_errors": screen.errors,
        "key_to_db_ms": figures(to_db), "key_to_screen_ms": figures(to_screen),
        "stored_after_5_s": sum(1 for ms in to_db if ms > 5000),
    }


def figures(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": round(percentile(values, 0.5), 1), "p99": round(percentile(values, 0.99), 1),
            "max": round(max(values), 1) if values else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--presses", type=int, default=12, help="households pressing, one after another")
    parser.add_argument("--listen-s", type=float, default=30.0, help="cap on waiting for a press's calls to end")
    parser.add_argument("--label", default="", help="name of this run in the results file (e.g. a commit)")
    args = parser.parse_args()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = RESULTS / f"ack-at-key-{stamp}"
    result = run(args, run_dir) | {"label": args.label, "started": stamp}
    (run_dir / "result.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"kept: {run_dir}")


if __name__ == "__main__":
    main()

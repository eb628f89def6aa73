"""The mass event with its texts over SMPP (``bench.mass_event --smpp``): Jasmin, the real SMPP server,
with its carrier stub (tests/integration/smpp/jasmin_rig.py), and the service's SMS through the SMPP
channel (``engine.sms_channel = "smpp"``). After the presses drained, waits until every SMS leg has a
final state (delivered or undelivered) and reports the states, the receipts' span and the carrier's count.

Goal (issue #22): every SMS leg reaches a final state.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.integration.smpp.jasmin_rig import PASSWORD, USER, JasminRig

FINAL = ("delivered", "undelivered", "acknowledged", "declined", "failed", "cancelled")


class SmppPath:
    def __init__(self, run_dir: Path) -> None:
        (run_dir / "jasmin").mkdir(parents=True, exist_ok=True)
        self.jasmin = JasminRig(run_dir / "jasmin").start()
        self.jasmin.carrier.receipt_delay = 0.05

    def settings(self) -> dict[str, Any]:
        return {"engine": {"sms_channel": "smpp"},
                "smpp": {"enabled": True, "host": "127.0.0.1", "port": self.jasmin.smpp_port, "system_id": USER,
                         "password": PASSWORD, "source_addr": "995", "window": 50, "throughput": 500}}

    def wait_final(self, db: Path, cap_s: float) -> dict[str, Any]:
        """Until no SMS leg is pending, queued or submitted (or ``cap_s``); the states then."""
        began = time.monotonic()
        while True:
            states = sms_states(db)
            open_legs = sum(n for status, n in states.items() if status not in FINAL)
            if open_legs == 0 or time.monotonic() - began > cap_s:
                break
            time.sleep(1.0)
        return {"states": states, "not_final": open_legs, "waited_s": time.monotonic() - began,
                "carrier_received_parts": len(self.jasmin.carrier.received)}

    def stop(self) -> None:
        self.jasmin.stop()


def sms_states(db: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return dict(conn.execute("SELECT status, count(*) FROM alert_leg WHERE channel = 'sms' GROUP BY status"))


def print_report(found: dict[str, Any]) -> None:
    states = ", ".join(f"{status} {n}" for status, n in sorted(found["states"].items()))
    print(f"SMS over SMPP (Jasmin): {sum(found['states'].values())} SMS legs: {states}; not final "
          f"{found['not_final']} after waiting {found['waited_s']:.1f} s  (goal: 0 not final); the carrier "
          f"behind Jasmin received {found['carrier_received_parts']} parts")

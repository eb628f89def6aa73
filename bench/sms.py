"""SMS benchmarks (issue #22), one part per run:

    .venv/bin/python -m bench.sms --part failover [--trials 5]
    .venv/bin/python -m bench.sms --part smpp [--messages 2000 --windows 10 50 --burst 10000]

The SMPP part (submit rate through our channel to Jasmin beside Jasmin's bare-client figure, submit →
receipt p50/p99, a 10,000 burst that must all reach a final state) is in bench/sms_smpp.py.

Failover time: Aliyun SMS and Tencent Cloud SMS enabled through their official SDKs against the local
emulators, wired by the composition root into the real engine (config/channels.yaml order: aliyun, then
tencent). Each trial warms the path (a press whose texts Aliyun delivers), then takes Aliyun down at t0
— its server stopped (connection refused) or answering every request 503 — and presses again at once.
Reported: t0 → the first message accepted by Tencent (the emulator's arrival time), per outage kind;
goal ≤ 5 s. No message of the second press may reach Aliyun.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import sms_smpp
from tests.cnsms_emulator import AliyunEmulator
from tests.integration.cnsms.rig import aliyun_emulator, cloud_rig, tencent_emulator
from tests.integration.twilio.rig import GRID_WORKER, SECOND_CALLER, neighbour
from tests.waiting import wait_for

GOAL_SECONDS = 5.0
OUTAGES = ("refused", "5xx")


@dataclass(frozen=True)
class FailoverResult:
    outage: str
    trials: list[float]

    @property
    def worst(self) -> float:
        return max(self.trials)


def _take_down(aliyun: AliyunEmulator, outage: str) -> None:
    if outage == "refused":
        aliyun.stop()
    else:
        aliyun.fail_next(1_000_000)


def failover_trial(outage: str) -> float:
    """Seconds from Aliyun going down to the first message Tencent accepted."""
    phones = [neighbour(1), neighbour(2), neighbour(3), GRID_WORKER]
    with tempfile.TemporaryDirectory(prefix="bench-sms-") as scratch, aliyun_emulator() as aliyun, \
            tencent_emulator() as tencent:
        tmp = Path(scratch)
        with cloud_rig(f"sqlite:///{tmp / 'bench.db'}", tmp, aliyun, tencent) as rig:
            warm = rig.press()
            wait_for(lambda: all(rig.statuses(warm.id, p) == ["delivered"] for p in phones), what="warm-up")
            before = len(aliyun.messages)
            t0 = time.monotonic()
            _take_down(aliyun, outage)
            rig.press(SECOND_CALLER)
            first = wait_for(lambda: tencent.messages[:1], timeout=30, what="a message through Tencent")[0]
            assert len(aliyun.messages) == before, "a message of the second press reached Aliyun"
            return float(first.at - t0)


def failover_time(trials: int = 3) -> list[FailoverResult]:
    return [FailoverResult(outage, [failover_trial(outage) for _ in range(trials)]) for outage in OUTAGES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["failover", "smpp"], default="failover")
    parser.add_argument("--trials", type=int, default=3)
    sms_smpp.add_arguments(parser)
    args = parser.parse_args()
    if args.part == "smpp":
        sms_smpp.run(args)
    if args.part == "failover":
        print(f"| Aliyun outage | trials | median s | worst s | goal ≤ {GOAL_SECONDS:g} s |")
        print("|---|---:|---:|---:|---|")
        for r in failover_time(args.trials):
            print(f"| {r.outage} | {len(r.trials)} | {statistics.median(r.trials):.3f} | {r.worst:.3f} "
                  f"| {'met' if r.worst <= GOAL_SECONDS else 'MISSED'} |")


if __name__ == "__main__":
    main()

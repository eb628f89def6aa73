"""SIP benchmark: our 995 service against the same sipp load through Kamailio alone.

    .venv/bin/python -m bench.sip [--calls 200] [--concurrency 10 50] [--fanout 20] [--rounds 5]

1. Inbound: sipp households call 995 (INVITE → 200 per call, sipp's response time) at each
   concurrency, through Kamailio to our service; reference: the same sipp load through the same
   Kamailio to a sipp UAS that answers at once.
2. Outbound fan-out: N alert legs handed to SipAlertChannel at once, to sipp UAS phones that answer
   and press 1 0.5 s after the ACK: time until all INVITEs left, all answered, all acknowledged.
   Reference: sipp placing N simultaneous calls through Kamailio to the same UAS (INVITE → 200).
3. RTP: 50 households hold a call 5 s each with their SDP pointing at a UDP counter of our own;
   packets/s per call = packets counted / (calls × 5 s). Reference: G.711 at 20 ms = 50 packets/s.
4. Memory: this process's RSS after 10 and after 1,000 inbound calls to the same SipService.
Prints a table; figures go to docs/benchmarks.md with this command.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callcenter.domain.messages import MessageFacts
from callcenter.domain.types import Channel, LegPurpose, LegStatus, Recipient
from callcenter.service.ports import LegOrder
from callcenter.settings import SipSettings
from callcenter.sip.service import SipService

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
harness: Any = importlib.import_module("sip.harness")  # the tests' Kamailio and sipp runners


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else float("nan")


def response_times(work: Path) -> list[float]:
    """INVITE → 200 per call (ms) from sipp's -trace_rtt files."""
    times: list[float] = []
    for path in work.glob("*_rtt.csv"):
        with path.open() as f:
            for row in csv.DictReader(f, delimiter=";"):
                if row.get("rtd_no") == "1":
                    times.append(float(row["response_time_ms"]))
    return times


def sipp_calls(work: Path, registrar: int, service: str, calls: int, concurrency: int) -> list[float]:
    work.mkdir(parents=True, exist_ok=True)
    caller = harness.Sipp("household_call", work, remote_port=registrar, calls=calls, rate=float(concurrency * 4),
                          keys={"household": "13800000001", "service": service},
                          extra=["-l", str(concurrency), "-trace_rtt", "-rtt_freq", "1"])
    rc = caller.run(timeout=300)
    if rc != 0:
        print(f"  sipp exit {rc}: {caller.errors()[-400:]}", file=sys.stderr)
    return response_times(work)


def service_settings(registrar: int) -> SipSettings:
    low, high = harness.free_udp_range(200)
    return SipSettings(registrar_port=registrar, sip_port=0, rtp_port_low=low, rtp_port_high=high,
                       max_channels=100, ring_timeout=30.0)


def inbound(base: Path, registrar: Any, calls: int, concurrency: int) -> tuple[list[float], list[float]]:
    service = SipService(service_settings(registrar.port), on_emergency=lambda number: None)
    service.start()
    service.phone.wait_registered(10)
    try:
        ours = sipp_calls(base / f"ours-{concurrency}", registrar.port, "995", calls, concurrency)
    finally:
        service.stop()
    uas = harness.Sipp("responder_answer", base / f"ref-uas-{concurrency}", calls=calls).start()
    harness.register_contact(registrar.port, "995", uas.port)
    reference = sipp_calls(base / f"ref-{concurrency}", registrar.port, "995", calls, concurrency)
    uas.stop()
    return ours, reference


@dataclass
class FanoutSink:
    started: float = field(default_factory=time.monotonic)
    at: dict[LegStatus, list[float]] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)
    legs: int = 0

    def leg_outcome(self, leg_id: str, status: LegStatus, detail: str = "", provider_ref: str = "") -> None:
        self.at.setdefault(status, []).append(time.monotonic() - self.started)
        if sum(len(v) for s, v in self.at.items() if s.is_final) >= self.legs:
            self.done.set()


def fanout(base: Path, registrar: Any, legs: int) -> dict[str, float]:
    uas = harness.Sipp("responder_press_1", base / f"fanout-uas-{time.monotonic_ns()}", calls=legs).start()
    numbers = [f"1390000{n:04d}" for n in range(legs)]
    for number in numbers:
        harness.register_contact(registrar.port, number, uas.port)
    service = SipService(service_settings(registrar.port), on_emergency=lambda number: None)
    sink = FanoutSink(legs=legs)
    service.channel.sink = sink
    service.start()
    service.phone.wait_registered(10)
    facts = MessageFacts("张家", "一组", "13800000001", datetime.now(UTC), "unknown")
    try:
        sink.started = time.monotonic()
        for n, number in enumerate(numbers):
            service.channel.send(LegOrder(f"bench/{n}", "bench", Channel.CALL, LegPurpose.ALERT, 1,
                                          Recipient("邻居", number, "neighbour"), "", facts))
        sink.done.wait(60)
    finally:
        service.stop()
        uas.stop()
    return {name: 1000 * max(sink.at.get(status, [float("nan")])) for name, status in
            (("all INVITEs sent", LegStatus.DIALING), ("all answered", LegStatus.ANSWERED),
             ("all acknowledged", LegStatus.ACKNOWLEDGED))}


def fanout_reference(base: Path, registrar: Any, legs: int) -> list[float]:
    uas = harness.Sipp("responder_answer", base / "fanout-ref-uas", calls=legs).start()
    harness.register_contact(registrar.port, "995", uas.port)
    times = sipp_calls(base / "fanout-ref", registrar.port, "995", legs, legs)
    uas.stop()
    return times


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def count_packets(sink: socket.socket, stop: threading.Event, counted: list[int]) -> None:
    sink.settimeout(0.2)
    while not stop.is_set():
        try:
            sink.recv(2048)
            counted[0] += 1
        except TimeoutError:
            continue


def rtp_rate(base: Path, registrar: Any, calls: int) -> float:
    """Packets/s per call our service sends while ``calls`` households hold the line 5 s at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sink.bind(("127.0.0.1", 0))
        stop, counted = threading.Event(), [0]
        counter = threading.Thread(target=count_packets, args=(sink, stop, counted), daemon=True)
        counter.start()
        caller = harness.Sipp("household_hold", base / "rtp", remote_port=registrar.port, calls=calls,
                              rate=float(calls * 10), keys={"household": "13800000001", "service": "995",
                                                            "rtp_sink": str(sink.getsockname()[1])},
                              extra=["-l", str(calls)])
        rc = caller.run(timeout=120)
        time.sleep(0.5)
        stop.set()
        counter.join(timeout=5)
        if rc != 0:
            print(f"  sipp exit {rc}: {caller.errors()[-400:]}", file=sys.stderr)
        return counted[0] / (calls * 5.0)


def rtp_and_memory(base: Path, registrar: Any, calls: int) -> tuple[float, float, float]:
    """RTP packets/s per call at ``calls`` concurrent; RSS (MiB) after 10 and after 1,000 inbound calls."""
    service = SipService(service_settings(registrar.port), on_emergency=lambda number: None)
    service.start()
    service.phone.wait_registered(10)
    try:
        rate = rtp_rate(base, registrar, calls)
        sipp_calls(base / "rss-10", registrar.port, "995", 10, 10)
        after_10 = rss_mib()
        sipp_calls(base / "rss-1000", registrar.port, "995", 990, 50)
        return rate, after_10, rss_mib()
    finally:
        service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--fanout", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-sip-"))
    registrar = harness.Kamailio(base / "kamailio").start()
    try:
        print(f"{'inbound INVITE→200 (ms)':34} {'ours p50':>9} {'ours p99':>9} {'ref p50':>9} {'ref p99':>9}")
        for concurrency in args.concurrency:
            ours, ref = inbound(base, registrar, args.calls, concurrency)
            print(f"{f'{args.calls} calls, {concurrency} concurrent':34} {percentile(ours, .5):9.1f} "
                  f"{percentile(ours, .99):9.1f} {percentile(ref, .5):9.1f} {percentile(ref, .99):9.1f}"
                  f"   (n={len(ours)}/{len(ref)})")
        rounds = [fanout(base, registrar, args.fanout) for _ in range(args.rounds)]
        print(f"\noutbound fan-out of {args.fanout} alert legs, {args.rounds} rounds (ms, p50 / max over rounds)")
        for name in rounds[0]:
            values = [r[name] for r in rounds]
            print(f"  {name:20} {statistics.median(values):8.1f} / {max(values):8.1f}")
        ref = fanout_reference(base, registrar, args.fanout)
        print(f"  reference: sipp {args.fanout} simultaneous calls via Kamailio, INVITE→200 "
              f"p50 {percentile(ref, .5):.1f}  max {max(ref, default=float('nan')):.1f}")
        rate, after_10, after_1000 = rtp_and_memory(base, registrar, 50)
        print(f"\nRTP packets/s per call at 50 concurrent calls: ours {rate:.1f}   reference (G.711/20 ms) 50.0")
        print(f"RSS after 10 calls {after_10:.1f} MiB, after 1,000 calls {after_1000:.1f} MiB: "
              f"growth {after_1000 / after_10:.2f}x (goal <= 1.20x)")
    finally:
        registrar.stop()


if __name__ == "__main__":
    main()

"""SIP benchmark: our 995 service against the same sipp load through Kamailio alone.

    .venv/bin/python -m bench.sip [--calls 200] [--concurrency 10 50] [--fanout 20] [--rounds 5]

1. Inbound: sipp households call 995 (INVITE → 200 per call: sipp's response time in whole ms, and
   the same from its message trace in µs) at each concurrency, through Kamailio to our service;
   reference: the same sipp load through the same Kamailio to a sipp UAS that answers at once; the
   ratio ours / reference of p50 and p99.
2. Outbound fan-out: N alert legs handed to SipAlertChannel at once, to sipp UAS phones that answer
   and press 1 0.5 s after the ACK: time until all INVITEs left, all answered, all acknowledged.
   Reference: sipp placing N simultaneous calls through Kamailio to the same UAS (INVITE → 200).
3. RTP: 50 households hold a call 5 s each with their SDP pointing at a UDP counter of our own;
   packets/s per call = packets counted / (calls × 5 s). Reference: G.711 at 20 ms = 50 packets/s.
4. Memory: this process's RSS after 10 and after 1,000 inbound calls to the same SipService.
5. Through the real engine (``--engine-rounds``, 0 skips it): the service as `callcenter serve` wires
   it (SQLite with the district demo directory, IVR flows, SIP channel) behind Kamailio with the demo's
   simulated phones; a household whose joint-defense group has 20 neighbours to call presses once per
   round (a different household each round). Measured at the wire, from sipp's message traces: the
   household's INVITE leaving its sipp → the 20th responder INVITE reaching the simulated phones (two
   Kamailio hops inside); also from the service's own emergency hook (the INVITE parsed) → the same.
   The trunk has 100 channels here, so calls still up from earlier rounds never make a leg wait.
Prints a table; figures go to docs/benchmarks.md with this command.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import shutil
import socket
import sqlite3
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


def invite_to_ok(message_log: Path) -> list[float]:
    """INVITE sent → 200 OK received per call (ms, microsecond resolution) from sipp's -trace_msg file."""
    stack: Any = importlib.import_module("bench.mass_stack")
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}
    stamp, first = 0.0, ""
    for line in message_log.read_text(errors="replace").splitlines():
        if stack.is_trace_stamp(line):
            stamp, first = stack.trace_stamp(line), ""
        elif not first and line.strip() and "message" not in line:
            first = line  # the message's first line: request line or status line
        elif line.lower().startswith(("call-id:", "i:")) and first:
            call = line.split(":", 1)[1].strip()
            if first.startswith("INVITE "):
                sent.setdefault(call, stamp)
            elif first.startswith("SIP/2.0 200"):
                answered.setdefault(call, stamp)
    return [1000 * (answered[c] - sent[c]) for c in sent if c in answered]


@dataclass
class InboundTimes:
    sipp_ms: list[float]  # sipp's own response times (whole milliseconds)
    wire_ms: list[float]  # from its message trace (microseconds)


def sipp_calls(work: Path, registrar: int, service: str, calls: int, concurrency: int) -> InboundTimes:
    work.mkdir(parents=True, exist_ok=True)
    trace = work / "household-messages.log"
    caller = harness.Sipp("household_call", work, remote_port=registrar, calls=calls, rate=float(concurrency * 4),
                          keys={"household": "13800000001", "service": service},
                          extra=["-l", str(concurrency), "-trace_rtt", "-rtt_freq", "1",
                                 "-trace_msg", "-message_file", str(trace)])
    rc = caller.run(timeout=300)
    if rc != 0:
        print(f"  sipp exit {rc}: {caller.errors()[-400:]}", file=sys.stderr)
    return InboundTimes(response_times(work), invite_to_ok(trace) if trace.exists() else [])


def service_settings(registrar: int) -> SipSettings:
    # Below the kernel's ephemeral ports, like the shipped 10000-10999 (see bench/mass_stack.py).
    low, high = importlib.import_module("bench.mass_stack").rtp_port_range(200)
    return SipSettings(registrar_port=registrar, sip_port=0, rtp_port_low=low, rtp_port_high=high,
                       max_channels=100, ring_timeout=30.0)


def inbound(base: Path, registrar: Any, calls: int, concurrency: int) -> tuple[InboundTimes, InboundTimes]:
    service = SipService(service_settings(registrar.port), on_emergency=lambda caller: None)
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
    service = SipService(service_settings(registrar.port), on_emergency=lambda caller: None)
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
    return times.wire_ms


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
    service = SipService(service_settings(registrar.port), on_emergency=lambda caller: None)
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


def engine_fanout(base: Path, rounds: int) -> dict[str, list[float]]:
    """Household INVITE → all 20 responder INVITEs through the real engine (ms per round)."""
    stack: Any = importlib.import_module("bench.mass_stack")
    mass_event: Any = importlib.import_module("bench.mass_event")
    data_dir = base / "engine-data"
    data_dir.mkdir(parents=True)
    db = data_dir / "callcenter.db"
    shutil.copy(mass_event.district_template(), db)
    callers = twenty_neighbour_callers(db, rounds)
    sip = stack.DemoSip(base / "engine-sip").start()
    # Channels enough that calls still up from earlier rounds (up to 30 s each) leave 20 free.
    service = stack.start_service(data_dir, sip.port, max_channels=100, ring_timeout=30.0)
    try:
        for n, (line, _) in enumerate(callers):
            press = stack.Press(line, stack.national(line), None)
            stack.households_press(base / f"engine-press-{n}", sip.port, [press], 1.0).wait(30)
            time.sleep(3.0)  # one press at a time: the next round starts on a quiet service
    finally:
        service.stop()
        sip.stop()
    return fanout_at_wire(base, sip.run_dir, callers, service.opened)


def twenty_neighbour_callers(db: Path, count: int) -> list[tuple[str, list[str]]]:
    """``count`` households of 20-responder groups, each given one more neighbour contact so the press
    calls 20 neighbours (the roster's own limit of 20 counts the caller's own contact too)."""
    found: list[tuple[str, list[str]]] = []
    with sqlite3.connect(db) as conn:
        groups = conn.execute("SELECT scope_id FROM responder WHERE role = 'household_contact' "
                              "GROUP BY scope_id HAVING COUNT(*) = 20 ORDER BY scope_id").fetchall()
        for n, (group,) in enumerate(groups):
            chosen = conn.execute(
                "SELECT h.id, MIN(l.number) FROM household h JOIN emergency_line l ON l.household_id = h.id "
                "WHERE h.group_id = ? AND (SELECT COUNT(*) FROM responder r WHERE r.household_id = h.id) = 1 "
                "GROUP BY h.id LIMIT 1", (group,)).fetchone()
            if chosen is None:
                continue
            if len(found) == count:
                break
            household, line = chosen
            other = conn.execute("SELECT id FROM household WHERE group_id = ? AND id != ? LIMIT 1",
                                 (group, household)).fetchone()[0]
            conn.execute("INSERT INTO responder (name, phone, role, scope_level, scope_id, scope_key, household_id, "
                         "position) VALUES ('加测邻居', ?, 'household_contact', 'group', ?, ?, ?, 9)",
                         (f"+86139{95000000 + n:08d}", group, f"group:{group}", other))
            phones = [p for (p,) in conn.execute(
                "SELECT phone FROM responder WHERE role = 'household_contact' AND scope_id = ? "
                "AND household_id != ?", (group, household))]
            found.append((line, phones))
    return found


def fanout_at_wire(base: Path, phones_dir: Path, callers: list[tuple[str, list[str]]],
                   hooked: dict[str, tuple[float, float]]) -> dict[str, list[float]]:
    stack: Any = importlib.import_module("bench.mass_stack")
    reached = invites_received(phones_dir)
    wire, hook, counts = [], [], []
    for n, (line, phones) in enumerate(callers):
        dialled = stack.national(line)
        sent = stack.press_times(base / f"engine-press-{n}" / "households-messages.log").get(dialled)
        times = sorted(reached.get(stack.national(p), float("inf")) for p in phones)
        counts.append(float(sum(t < float("inf") for t in times)))
        if sent is not None and times and times[-1] < float("inf"):
            wire.append(1000 * (times[-1] - sent))
            if dialled in hooked:
                hook.append(1000 * (times[-1] - hooked[dialled][0]))
    return {"wire": wire, "hook": hook, "invites": counts}


def national(number: str) -> str:
    stack: Any = importlib.import_module("bench.mass_stack")
    return str(stack.national(number))


def invites_received(phones_dir: Path) -> dict[str, float]:
    """First INVITE each number's simulated phone received (epoch s), from the phones' message traces."""
    reached: dict[str, float] = {}
    stack: Any = importlib.import_module("bench.mass_stack")
    for log in phones_dir.glob("*-messages.log"):
        stamp: float | None = None
        for line in log.read_text(errors="replace").splitlines():
            if stack.is_trace_stamp(line):
                stamp = stack.trace_stamp(line)
            elif line.startswith("INVITE sip:") and stamp is not None:
                user = line.split("sip:", 1)[1].split("@", 1)[0]
                reached.setdefault(national(user), stamp)
    return reached


def print_inbound_header() -> None:
    print("inbound INVITE→200 (ms): sipp's response time (whole ms), and from its message trace (µs);")
    print("ratio = ours / ref (the same sipp load through the same Kamailio to a sipp UAS)")
    print(f"{'':30} {'':5} {'ours p50':>9} {'ours p99':>9} {'ref p50':>9} {'ref p99':>9} {'p50 x':>6} {'p99 x':>6}")


def print_inbound(label: str, ours: InboundTimes, ref: InboundTimes) -> None:
    for kind, mine, theirs in (("sipp", ours.sipp_ms, ref.sipp_ms), ("wire", ours.wire_ms, ref.wire_ms)):
        p50, p99 = percentile(mine, .5), percentile(mine, .99)
        r50, r99 = percentile(theirs, .5), percentile(theirs, .99)
        ratios = f"{p50 / r50:6.1f} {p99 / r99:6.1f}" if r50 > 0 and r99 > 0 else f"{'-':>6} {'-':>6}"
        print(f"{label:30} {kind:5} {p50:9.2f} {p99:9.2f} {r50:9.2f} {r99:9.2f} {ratios}"
              f"   (n={len(mine)}/{len(theirs)})")


def print_engine_fanout(result: dict[str, list[float]]) -> None:
    print("\nthrough the real engine: household INVITE → all 20 responder INVITEs (ms)")
    for name, label in (("wire", "household INVITE sent → 20th INVITE at the phones"),
                        ("hook", "service's emergency hook → 20th INVITE at the phones")):
        values = result[name]
        print(f"  {label:52} p50 {percentile(values, .5):8.1f}  p99 {percentile(values, .99):8.1f}  "
              f"max {max(values, default=float('nan')):8.1f}  (n={len(values)})")
    print(f"  INVITEs reaching the phones per press: {sorted(set(result['invites']))}  goal 20 legs <= 250 ms p99")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--fanout", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--engine-rounds", type=int, default=20, help="presses through the real engine; 0 skips")
    parser.add_argument("--only-engine", action="store_true", help="run section 5 alone")
    args = parser.parse_args()
    if args.only_engine:
        print_engine_fanout(engine_fanout(Path(tempfile.mkdtemp(prefix="bench-sip-engine-")), args.engine_rounds))
        return
    base = Path(tempfile.mkdtemp(prefix="bench-sip-"))
    registrar = harness.Kamailio(base / "kamailio").start()
    try:
        print_inbound_header()
        for concurrency in args.concurrency:
            print_inbound(f"{args.calls} calls, {concurrency} concurrent",
                          *inbound(base, registrar, args.calls, concurrency))
        rounds = [fanout(base, registrar, args.fanout) for _ in range(args.rounds)]
        print(f"\noutbound fan-out of {args.fanout} alert legs, {args.rounds} rounds (ms, p50 / max over rounds)")
        for name in rounds[0]:
            values = [r[name] for r in rounds]
            print(f"  {name:20} {statistics.median(values):8.1f} / {max(values):8.1f}")
        ref = fanout_reference(base, registrar, args.fanout)
        print(f"  reference: sipp {args.fanout} simultaneous calls via Kamailio, INVITE→200 (trace) "
              f"p50 {percentile(ref, .5):.2f}  max {max(ref, default=float('nan')):.2f}")
        rate, after_10, after_1000 = rtp_and_memory(base, registrar, 50)
        print(f"\nRTP packets/s per call at 50 concurrent calls: ours {rate:.1f}   reference (G.711/20 ms) 50.0")
        print(f"RSS after 10 calls {after_10:.1f} MiB, after 1,000 calls {after_1000:.1f} MiB: "
              f"growth {after_1000 / after_10:.2f}x (goal <= 1.20x)")
    finally:
        registrar.stop()
    if args.engine_rounds:
        print_engine_fanout(engine_fanout(base, args.engine_rounds))


if __name__ == "__main__":
    main()

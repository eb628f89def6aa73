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
6. A real softphone as the far end (``--baresip``, 0 skips it): N alert legs handed to the channel at
   once to N lines of one Debian baresip process (auto answer, PCMA and PCMU), then N to a sipp UAS
   that answers at once, through the same Kamailio to the same SipService: per leg, send → ANSWERED
   and INVITE → 200 at the wire (a packet socket on lo: tests/sip/capture.py, needs root). Then, while
   the N baresip calls hear their announcement for 10 s: each RTP packet's arrival at baresip's port
   (kernel time), the interval between packets and the RFC 3550 interarrival jitter per call, beside
   baresip's own receive jitter from its RTCP (rtcpsummary's JI, the service's SR reaching it).
Prints a table; figures go to docs/benchmarks.md with this command.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import itertools
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


@dataclass
class FarEnd:
    """Alert legs to one kind of far end: per leg, send → ANSWERED (ms) and INVITE → 200 at the wire (ms)."""

    answered_ms: list[float]
    wire_ms: list[float]


def alert_legs(service: SipService, numbers: list[str], capture: Any, phone_ports: set[int]) -> FarEnd:
    """Hand one alert leg per number to the channel at once; wait until each is answered."""
    sink = FanoutSink(legs=len(numbers))
    answered: dict[str, float] = {}
    sent: dict[str, float] = {}

    class Sink:
        def leg_outcome(self, leg_id: str, status: LegStatus, detail: str = "", provider_ref: str = "") -> None:
            if status == LegStatus.ANSWERED:
                answered.setdefault(leg_id, time.monotonic())
                if len(answered) >= len(numbers):
                    sink.done.set()

    service.channel.sink = Sink()
    facts = MessageFacts("张家", "一组", "13800000001", datetime.now(UTC), "unknown")
    started = time.time()
    for n, number in enumerate(numbers):
        sent[f"far/{number}"] = time.monotonic()
        service.channel.send(LegOrder(f"far/{number}", f"far-{n}", Channel.CALL, LegPurpose.ALERT, 1,
                                      Recipient("邻居", number, "neighbour"), "", facts))
    sink.done.wait(30)
    time.sleep(0.5)
    return FarEnd([1000 * (answered[leg] - sent[leg]) for leg in answered],
                  invite_to_ok_at_wire(capture, phone_ports, started) if capture else [])


def invite_to_ok_at_wire(capture: Any, phone_ports: set[int], since: float) -> list[float]:
    """INVITE reaching a phone's SIP port → its 200 to that INVITE leaving it, per Call-ID (ms)."""
    invites: dict[str, float] = {}
    oks: dict[str, float] = {}
    with capture._lock:
        datagrams = [d for d in capture.datagrams if d.at >= since and d.text]
    for d in datagrams:
        text = d.text.decode(errors="replace")
        call = next((line.split(":", 1)[1].strip() for line in text.split("\r\n")
                     if line.lower().startswith(("call-id:", "i:"))), "")
        if text.startswith("INVITE ") and d.destination_port in phone_ports:
            invites.setdefault(call, d.at)
        elif text.startswith("SIP/2.0 200") and d.source_port in phone_ports and " INVITE" in text:
            oks.setdefault(call, d.at)
    return [1000 * (oks[c] - invites[c]) for c in invites if c in oks]


def rtp_arrivals(capture: Any, port: int, since: float, until: float) -> tuple[list[float], float]:
    """Intervals between RTP audio packets reaching ``port`` (ms), and the RFC 3550 jitter at the end (ms)."""
    with capture._lock:
        packets = sorted((d for d in capture.datagrams if d.destination_port == port and d.payload_type in (0, 8)
                          and since <= d.at < until), key=lambda d: d.at)
    intervals = [1000 * (b.at - a.at) for a, b in itertools.pairwise(packets)]
    jitter = 0.0
    for a, b in itertools.pairwise(packets):
        transit = (b.at - a.at) - ((b.timestamp - a.timestamp) & 0xFFFFFFFF) / 8000
        jitter += (abs(transit) - jitter) / 16
    return intervals, 1000 * jitter


def baresip_far_end(base: Path, registrar: Any, legs: int) -> None:
    """Section 6: baresip beside sipp as the far end of alert calls, and RTP as baresip receives it."""
    baresip: Any = importlib.import_module("sip.baresip")
    capture_module: Any = importlib.import_module("sip.capture")
    try:
        capture = capture_module.LoopbackCapture().start()
    except PermissionError:
        capture = None
        print("  (no packet socket: not root; wire times and RTP arrivals not measured)")
    lines = [f"1391{n:07d}" for n in range(legs)]
    phone = baresip.BaresipPhone(base / "baresip-far-end", lines[0], registrar.port, answermode="auto",
                                 record=False, extra_accounts=tuple(lines[1:]), sip_trace=True).start()
    uas = harness.Sipp("responder_answer", base / "far-end-sipp", calls=legs).start()
    sipp_numbers = [f"1392{n:07d}" for n in range(legs)]
    for number in sipp_numbers:
        harness.register_contact(registrar.port, number, uas.port)
    service = SipService(service_settings(registrar.port), on_emergency=lambda caller: None)
    service.start()
    service.phone.wait_registered(10)
    try:
        listening = time.time()
        ours = alert_legs(service, lines, capture, {phone.sip_port})
        time.sleep(10.0)  # the announcements play; baresip receives
        heard_until = time.time()
        ports = media_ports(phone)
        phone.stop()  # hangs up every call: rtcpsummary writes each call's line
        sipp = alert_legs(service, sipp_numbers, capture, {uas.port})
    finally:
        service.stop()
        uas.stop()
        if capture is not None:
            capture.stop()
    print(f"\nfar end of {legs} alert legs at once (ms; p50 / p99 / max)")
    for name, far in (("baresip 1.0.0", ours), ("sipp UAS", sipp)):
        print(f"  {name:14} send→ANSWERED {percentile(far.answered_ms, .5):7.1f} / "
              f"{percentile(far.answered_ms, .99):7.1f} / {max(far.answered_ms, default=float('nan')):7.1f}   "
              f"INVITE→200 at the wire {percentile(far.wire_ms, .5):6.2f} / {percentile(far.wire_ms, .99):6.2f} / "
              f"{max(far.wire_ms, default=float('nan')):6.2f}  (n={len(far.answered_ms)}/{len(far.wire_ms)})")
    if capture is not None:
        intervals: list[float] = []
        jitters: list[float] = []
        for port in ports:
            gaps, jitter = rtp_arrivals(capture, port, listening + 1.0, heard_until)
            intervals += gaps
            jitters.append(jitter)
        print(f"RTP at baresip over {legs} concurrent alert calls, 10 s (packets {len(intervals) + len(ports)}):")
        print(f"  interval ms p50 {percentile(intervals, .5):.2f}  p99 {percentile(intervals, .99):.2f}  "
              f"max {max(intervals, default=float('nan')):.2f}  (20 ms expected)")
        print(f"  RFC 3550 jitter ms (capture) mean {statistics.fmean(jitters) if jitters else float('nan'):.2f}  "
              f"max {max(jitters, default=float('nan')):.2f}")
    reported = [float(line["JI"].split(",")[0]) for line in phone.rtcp_summaries() if "JI" in line]
    mean = statistics.fmean(reported) if reported else float("nan")
    mean = statistics.fmean(reported) if reported else float("nan")
    print(f"  baresip's own RTCP receive jitter (rtcpsummary JI) ms: mean {mean:.2f}  "
          f"max {max(reported, default=float('nan')):.2f}  (calls reporting: {len(reported)}/{legs})")

def media_ports(phone: Any) -> list[int]:
    """baresip's RTP port of each call: the m=audio lines of the SDP it sent (its SIP trace)."""
    sent = [message for message in phone.sip_messages() if message.source.endswith(f":{phone.sip_port}")]
    return sorted({int(line.split()[1]) for message in sent for line in message.body.split("\n")
                   if line.startswith("m=audio ")})


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
    parser.add_argument("--baresip", type=int, default=20,
                        help="alert legs to baresip and to sipp (section 6); 0 skips")
    parser.add_argument("--only-baresip", action="store_true", help="run section 6 alone")
    args = parser.parse_args()
    if args.only_engine:
        print_engine_fanout(engine_fanout(Path(tempfile.mkdtemp(prefix="bench-sip-engine-")), args.engine_rounds))
        return
    base = Path(tempfile.mkdtemp(prefix="bench-sip-"))
    registrar = harness.Kamailio(base / "kamailio").start()
    if args.only_baresip:
        try:
            baresip_far_end(base, registrar, args.baresip)
        finally:
            registrar.stop()
        return
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
        if args.baresip:
            baresip_far_end(base, registrar, args.baresip)
    finally:
        registrar.stop()
    if args.engine_rounds:
        print_engine_fanout(engine_fanout(base, args.engine_rounds))


if __name__ == "__main__":
    main()

"""Hostile SIP input at scale: the seeded fuzzer of tests/sip/fuzz.py against our 995 service and,
as the reference, against Kamailio alone (the same messages at its own port).

    .venv/bin/python -m bench.sip_fuzz [--messages 100000] [--seed 4475]

Messages go out in bursts of 20, each followed by an OPTIONS probe the next burst waits for (each
receiver reads its socket in order, so the probe's answer means the burst was read: a closed loop,
so few datagrams are lost to a full socket buffer); the clock stops at the last probe's answer.
Reports messages/s handled, datagrams read (ours, probes included), crashes (must be 0: receive
thread dead, errors logged, threads died, a probe unanswered), RSS before and after (ours: this
process, which runs the service; Kamailio: its processes).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callcenter.settings import SipSettings
from callcenter.sip.service import SipService

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
harness: Any = importlib.import_module("sip.harness")
fuzz: Any = importlib.import_module("sip.fuzz")
HOST = "127.0.0.1"
BURST = 20  # 20 × a 9 kB datagram stays under the default 208 kB socket buffer


@dataclass
class Run:
    target: str
    messages: int
    seconds: float
    read: int | None
    crashes: list[str]
    rss_before_kib: int
    rss_after_kib: int

    def row(self) -> str:
        rate = self.messages / self.seconds if self.seconds else float("nan")
        read = "-" if self.read is None else str(self.read)
        return (f"{self.target:<16} {self.messages:>9} {self.seconds:>8.1f} {rate:>10.0f} {read:>9} "
                f"{len(self.crashes):>7} {self.rss_before_kib / 1024:>8.1f} {self.rss_after_kib / 1024:>8.1f}")


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        trace = logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        self.texts.append(f"{record.getMessage()[:200]} {trace[-600:]}")


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def process_group(leader: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == leader:  # process group id
            pids.append(int(stat.parent.name))
    return pids


def probe(port: int, timeout: float = 10.0) -> bool:
    text = (
        f"OPTIONS sip:{HOST}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {HOST}:{{local}};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
        f"From: <sip:probe@{HOST}>;tag=p\r\nTo: <sip:{HOST}:{port}>\r\nCall-ID: {uuid.uuid4().hex}\r\n"
        "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    try:
        harness.sip_request(port, text, timeout=timeout)
        return True
    except TimeoutError:
        return False


def blast(port: int, count: int, seed: int) -> float:
    """Send the fuzzer's messages, then wait for the probe: seconds from first send to its answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.setblocking(False)
        fuzzer = fuzz.SipFuzzer(seed, HOST, port, sock.getsockname()[1])
        started = time.monotonic()
        answered = True
        for n, datagram in enumerate(fuzzer.messages(count)):
            sock.sendto(datagram, (HOST, port))
            if n % BURST == BURST - 1:  # closed loop: the next burst waits until this one was read
                answered = probe(port) and answered
                _drain(sock)
        answered = probe(port) and answered
        seconds = time.monotonic() - started
    return seconds if answered else float("nan")


def _drain(sock: socket.socket) -> None:
    while True:
        try:
            sock.recv(65535)
        except (BlockingIOError, ConnectionRefusedError):
            return


def ours(registrar: Any, count: int, seed: int) -> Run:
    low, high = harness.free_udp_range(64)
    service = SipService(SipSettings(registrar_port=registrar.port, sip_port=0, rtp_port_low=low, rtp_port_high=high),
                         on_emergency=lambda caller: None)
    errors, died = Errors(), []
    logging.getLogger("callcenter.sip").addHandler(errors)
    threading.excepthook = lambda args: died.append(repr(args.exc_value))
    service.start()
    try:
        service.phone.wait_registered(10)
        blast(service.phone.sip_port, 500, seed + 1)  # warm-up
        gc.collect()
        before = rss_kib([os.getpid()])
        read_before = service.phone.sip.datagrams
        seconds = blast(service.phone.sip_port, count, seed)
        gc.collect()
        after = rss_kib([os.getpid()])
        crashes = errors.texts + died
        if not all(t.is_alive() for t in service.phone.sip._threads):
            crashes.append("SIP thread died")
        if not service.registration.registered:
            crashes.append("registration lost")
        if seconds != seconds:
            crashes.append("probe not answered")
        return Run("995 service", count, seconds, service.phone.sip.datagrams - read_before, crashes, before, after)
    finally:
        service.stop()


def kamailio_alone(registrar: Any, count: int, seed: int) -> Run:
    pids = process_group(registrar.process.pid)
    blast(registrar.port, 500, seed + 1)
    before = rss_kib(pids)
    seconds = blast(registrar.port, count, seed)
    after = rss_kib(process_group(registrar.process.pid))
    crashes = [] if registrar.process.poll() is None and seconds == seconds else ["kamailio died or did not answer"]
    return Run("Kamailio alone", count, seconds, None, crashes, before, after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=4475)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sip-fuzz-") as tmp:
        registrar = harness.Kamailio(Path(tmp) / "kamailio").start()
        try:
            runs = [ours(registrar, args.messages, args.seed), kamailio_alone(registrar, args.messages, args.seed)]
        finally:
            registrar.stop()
    print(f"{'target':<16} {'messages':>9} {'seconds':>8} {'msg/s':>10} {'read':>9} {'crashes':>7} "
          f"{'RSS MiB':>8} {'after':>8}")
    for run in runs:
        print(run.row())
        for crash in run.crashes[:10]:
            print(f"  crash: {crash}")


if __name__ == "__main__":
    main()

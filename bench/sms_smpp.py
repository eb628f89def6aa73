"""bench.sms's SMPP part: our SMPP channel against Jasmin, the real SMPP server the tests run.

    .venv/bin/python -m bench.sms --part smpp              # 2,000 messages at windows 10 and 50, 10,000 burst
    .venv/bin/python -m bench.sms --part smpp --messages 500 --windows 10 --burst 0 --connectors 8

Jasmin (scripts/jasmin.sh: jasmind, RabbitMQ, Redis) routes every message to the carrier stub
(tests/smsc_stub), which answers and sends a delivery receipt that Jasmin passes back to our bind, as
in tests/integration/smpp. Each part below is a function taking the running rig, so that further
parts (failover time, a mass event over SMPP) can be added beside them:

- ``server_rate``: Jasmin's own figure: a bare smpplib client pipelining submit_sm at the window, no
  receipts, none of our code (Jasmin bundles no load client; this is the ceiling for a client);
- ``channel_rate``: messages submitted per second through ``SmppSmsChannel.send`` from 64 threads (as
  the engine's dispatch workers call it), the throughput limit set high, and each message's time from
  ``send`` to its final receipt (p50/p99);
- ``burst``: 10,000 messages handed over at once; every one must reach a final state (one in ten is
  made to fail at the carrier, so both outcomes are counted).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from smpplib import client as smpp_client
from smpplib import smpp

from bench.common import machine
from callcenter.channels.limits import SendLimits
from callcenter.domain.types import LegStatus
from callcenter.smpp.channel import Addressing, PathRules, SmppSmsChannel
from callcenter.smpp.session import SessionConfig, SmppSession
from tests.integration.smpp.jasmin_rig import PASSWORD, USER, JasminRig
from tests.integration.smpp.orders import mobile, order_to
from tests.smsc_stub import Fate

TEXT = "【995求助】三组 张桂兰家按下紧急键，回复1确认前往。"  # one UCS-2 message


@dataclass
class TimedOutcomes:
    """An outcome sink that notes when each leg got its final report."""

    at: dict[str, float] = field(default_factory=dict)
    status: dict[str, LegStatus] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def leg_outcome(self, leg_id: str, status: LegStatus, detail: str = "", provider_ref: str = "") -> None:
        with self._cond:
            if status.is_final and leg_id not in self.at:
                self.at[leg_id], self.status[leg_id] = time.monotonic(), status
                self._cond.notify_all()

    def wait(self, count: int, timeout: float) -> int:
        with self._cond:
            self._cond.wait_for(lambda: len(self.at) >= count, timeout)
            return len(self.at)


@dataclass(frozen=True)
class Run:
    part: str
    window: int
    messages: int
    seconds: float  # first send to last submit_sm_resp
    final: int  # messages with a final receipt
    undelivered: int
    p50_s: float | None  # send → final receipt
    p99_s: float | None
    forwarded_s: float | None = None  # first send until the carrier stub had them all (Jasmin's pipeline)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


@contextmanager
def jasmin(connectors: int) -> Iterator[JasminRig]:
    with tempfile.TemporaryDirectory(prefix="bench-sms-") as rundir:
        rig = JasminRig(Path(rundir), connectors=connectors).start()
        try:
            yield rig
        finally:
            rig.stop()


def _channel(rig: JasminRig, sink: TimedOutcomes, window: int) -> SmppSmsChannel:
    config = SessionConfig("127.0.0.1", rig.smpp_port, USER, PASSWORD, window=window, throughput=10_000,
                           outbox_size=50_000)

    def session(on_deliver: object) -> SmppSession:
        return SmppSession(config, on_deliver)  # type: ignore[arg-type]

    def no_replies() -> object:
        raise RuntimeError("no replies in the benchmark")

    channel = SmppSmsChannel(session, Addressing("995"), sink, no_replies, SendLimits("smpp"),  # type: ignore[arg-type]
                             lambda message_id: None, PathRules(submit_timeout_seconds=300))
    channel.start()
    deadline = time.monotonic() + 30
    while not channel.session.bound:
        if time.monotonic() > deadline:
            raise RuntimeError("no bind to Jasmin")
        time.sleep(0.05)
    return channel


def server_rate(rig: JasminRig, messages: int, window: int) -> Run:
    """A bare smpplib client: submit_sm pipelined up to ``window`` unanswered, no receipts asked."""
    before = len(rig.carrier.received)
    client = smpp_client.Client("127.0.0.1", rig.smpp_port, timeout=30)
    client.connect()
    client.bind_transceiver(system_id=USER, password=PASSWORD)
    sent = answered = 0
    start = time.monotonic()
    try:
        while answered < messages:
            while sent < messages and sent - answered < window:
                client.send_pdu(smpp.make_pdu("submit_sm", client=client, source_addr="995", dest_addr_ton=1,
                                              dest_addr_npi=1, destination_addr=mobile(sent).lstrip("+"),
                                              data_coding=8, short_message=TEXT.encode("utf-16-be")))
                sent += 1
            pdu = client.read_pdu()
            if pdu.command == "submit_sm_resp":
                answered += 1
            elif pdu.command == "deliver_sm":
                resp = smpp.make_pdu("deliver_sm_resp", client=client)
                resp.sequence = pdu.sequence
                client.send_pdu(resp)
        seconds = time.monotonic() - start
    finally:
        client.unbind()
        client.disconnect()
    while len(rig.carrier.received) < before + messages:  # drained to the carrier before the next part
        time.sleep(0.05)
    forwarded = time.monotonic() - start
    return Run("server (bare smpplib client)", window, messages, seconds, 0, 0, None, None, forwarded)


def channel_rate(rig: JasminRig, messages: int, window: int, part: str = "channel", fail_every: int = 0,
                 receipt_timeout: float = 300.0) -> Run:
    """``messages`` sends from 64 threads through the channel; waits for every final receipt."""
    tag = f"{part}-w{window}-{time.monotonic_ns()}"
    if fail_every:
        rig.carrier.fates.update({mobile(i).lstrip("+"): Fate("UNDELIV", "001")
                                  for i in range(0, messages, fail_every)})
    sink = TimedOutcomes()
    channel = _channel(rig, sink, window)
    sent_at: dict[str, float] = {}
    try:
        start = time.monotonic()

        def send(i: int) -> None:
            leg = f"{tag}/{i}"
            sent_at[leg] = time.monotonic()
            channel.send(order_to(mobile(i), leg, TEXT))

        with ThreadPoolExecutor(64) as pool:
            list(pool.map(send, range(messages)))
        seconds = time.monotonic() - start
        final = sink.wait(messages, receipt_timeout)
    finally:
        channel.stop()
        rig.carrier.fates.clear()
    latencies = sorted(sink.at[leg] - sent_at[leg] for leg in sink.at)
    undelivered = sum(1 for s in sink.status.values() if s is LegStatus.UNDELIVERED)
    return Run(part, window, messages, seconds, final, undelivered, statistics.median(latencies) if latencies else None,
               latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else None)


def burst(rig: JasminRig, messages: int, window: int) -> Run:
    return channel_rate(rig, messages, window, part="burst", fail_every=10, receipt_timeout=900.0)


def _row(run: Run) -> str:
    def seconds(value: float | None) -> str:
        return "–" if value is None else f"{value:.2f}"
    final = "–" if run.part.startswith("server") else f"{run.final} ({run.undelivered} undelivered)"
    forwarded = "–" if run.forwarded_s is None else f"{run.messages / run.forwarded_s:.0f}"
    return (f"| {run.part} | {run.window} | {run.messages} | {run.seconds:.1f} | {run.rate:.0f} | {forwarded} "
            f"| {final} | {seconds(run.p50_s)} | {seconds(run.p99_s)} |")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=2000, help="SMPP: messages per rate run (default 2000)")
    parser.add_argument("--windows", type=int, nargs="+", default=[10, 50], help="SMPP: submit windows (10 50)")
    parser.add_argument("--burst", type=int, default=10_000, help="SMPP: burst size, 0 to skip (default 10000)")
    parser.add_argument("--connectors", type=int, default=4, help="SMPP: Jasmin's connectors to the carrier (4)")


def run(args: argparse.Namespace) -> None:
    print(f"machine: {machine()}; Jasmin with {args.connectors} connectors to the carrier stub")
    print("| part | window | messages | s | submitted/s | forwarded to carrier/s | final receipts "
          "| send→receipt p50 s | p99 s |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|")
    with jasmin(args.connectors) as rig:
        for window in args.windows:
            print(_row(server_rate(rig, args.messages, window)), flush=True)
            print(_row(channel_rate(rig, args.messages, window)), flush=True)
        if args.burst:
            print(_row(burst(rig, args.burst, max(args.windows))), flush=True)

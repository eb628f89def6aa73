"""A running SipService under attack: the household's live call, captured errors, RSS, probes."""

from __future__ import annotations

import logging
import re
import resource
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import HOUSEHOLD, SERVICE, wait_until
from pyVoIP.VoIP import CallState
from sip.harness import Kamailio, Sipp, free_udp_range

from callcenter.domain.types import CallerId
from callcenter.ivr.media import CallEnded, CallMedia
from callcenter.settings import SipSettings
from callcenter.sip.phone import HardenedCall
from callcenter.sip.rtp import HardenedRTPClient
from callcenter.sip.service import SipService

HOST = "127.0.0.1"


class ErrorRecords(logging.Handler):
    """Every record at ERROR or above from the SIP adapter (log.exception included)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()} {r.exc_text or ''}"[:500] for r in self.records]


@dataclass
class Hostile:
    service: SipService
    emergencies: list[str] = field(default_factory=list)
    digits: list[tuple[str, str]] = field(default_factory=list)
    errors: ErrorRecords = field(default_factory=ErrorRecords)
    thread_errors: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.service.phone.sip_port

    def on_emergency(self, caller: CallerId) -> None:
        self.emergencies.append(caller.number)

    def inbound(self, media: CallMedia) -> None:
        """The household's line: record every key until it hangs up. Strangers' calls (fuzzed INVITEs
        still readable) are hung up at once, as a short IVR flow would."""
        if media.remote_number != HOUSEHOLD:
            return
        try:
            while (digit := media.next_digit(120)) is not None:
                self.digits.append((media.remote_number, digit))
        except CallEnded:
            return

    def sip_threads_alive(self) -> bool:
        threads = self.service.phone.sip._threads
        return len(threads) == 2 and all(thread.is_alive() for thread in threads)

    def live_calls(self, number: str = HOUSEHOLD) -> list[HardenedCall]:
        return [c for c in list(self.service.phone.calls.values())
                if c.number == number and c.state == CallState.ANSWERED]

    def rtp_received(self, number: str = HOUSEHOLD) -> int:
        return heard(self.live_calls(number))

    def healthy(self) -> list[str]:
        """What is wrong with the service right now (empty: nothing)."""
        problems = []
        if not self.sip_threads_alive():
            problems.append("SIP receive/registration thread died")
        if not self.service.registration.registered:
            problems.append(f"not registered: {self.service.registration}")
        problems += self.errors.texts() + self.thread_errors
        return problems


def heard(calls: list[HardenedCall]) -> int:
    """RTP packets these calls have received so far (the counters outlive the calls)."""
    return sum(client.received for call in calls for client in call.RTPClients if isinstance(client, HardenedRTPClient))


@contextmanager
def hostile_service(kamailio: Kamailio, rtp_ports: int = 32) -> Iterator[Hostile]:
    low, high = free_udp_range(rtp_ports)
    settings = SipSettings.model_validate({
        "registrar_port": kamailio.port, "sip_port": 0, "rtp_port_low": low, "rtp_port_high": high,
        "ring_timeout": 3.0, "max_channels": 4,
    })
    hostile = Hostile(service=None)  # type: ignore[arg-type]
    hostile.service = SipService(settings, on_emergency=hostile.on_emergency, inbound_handler=hostile.inbound)
    sip_logger = logging.getLogger("callcenter.sip")
    sip_logger.addHandler(hostile.errors)
    previous_hook = threading.excepthook

    def thread_died(args: Any) -> None:
        hostile.thread_errors.append(f"thread {args.thread.name if args.thread else '?'}: {args.exc_value!r}")
        previous_hook(args)

    threading.excepthook = thread_died
    hostile.service.start()
    try:
        assert hostile.service.phone.wait_registered(5), hostile.service.registration
        yield hostile
    finally:
        threading.excepthook = previous_hook
        sip_logger.removeHandler(hostile.errors)
        hostile.service.stop()


def live_household(sipp_dir: Path, kamailio: Kamailio, hold_ms: int) -> Sipp:
    """A household on the line for ``hold_ms`` (our audio echoed back to us), then key 1, then hang-up."""
    return Sipp("household_long_press_1", sipp_dir, remote_port=kamailio.port,
                keys={"household": HOUSEHOLD, "service": SERVICE},
                extra=["-d", str(hold_ms), "-rtp_echo", "-recv_timeout", "10000"])


def wait_live(hostile: Hostile, timeout: float = 10.0) -> bool:
    """The household's call is answered and our audio comes back to us."""
    return wait_until(lambda: hostile.rtp_received() > 10, timeout)


def rss_kib() -> int:
    """This process's resident set now (the service runs in the test process)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def exchange(sock: socket.socket, datagram: bytes, target: tuple[str, int], wait: float) -> list[bytes]:
    """Send one datagram and collect what comes back until a final response or ``wait`` seconds."""
    sock.sendto(datagram, target)
    replies: list[bytes] = []
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65535)
        except TimeoutError:
            break
        replies.append(data)
        if status_code(data) >= 200:
            break
    return replies


def status_code(data: bytes) -> int:
    matched = re.match(rb"SIP/2\.0 (\d{3}) ", data)
    return int(matched.group(1)) if matched else 0


def hang_up(port: int, response: bytes) -> None:
    """BYE straight to the service for the call a 200 answered (only the Call-ID matters to it)."""
    call_id = re.search(rb"^Call-ID: *(\S+)\r$", response, re.MULTILINE)
    if call_id is None:
        return
    bye = (
        f"BYE sip:{SERVICE}@{HOST}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {HOST}:9;branch=z9hG4bK{uuid.uuid4().hex}\r\n"
        f"From: <sip:tester@{HOST}>;tag=t\r\nTo: <sip:{SERVICE}@{HOST}>\r\nCall-ID: {call_id.group(1).decode()}\r\n"
        "CSeq: 99 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(bye.encode(), (HOST, port))

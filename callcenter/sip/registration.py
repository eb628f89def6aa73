"""Registration state and back-off (pure values, time passed in) and the registrar keepalive."""

from __future__ import annotations

import logging
import secrets
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

__all__ = [
    "BACKOFF_MAX", "RegistrarKeepalive", "RegistrationStatus", "RegistrationTracker", "backoff_delay",
    "keepalive_step", "options_request",
]

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0


def backoff_delay(failures: int, first: float = BACKOFF_FIRST, cap: float = BACKOFF_MAX) -> float:
    """Seconds to wait after ``failures`` consecutive failed REGISTERs: doubling, capped, never giving up."""
    if failures <= 0:
        return 0.0
    return float(min(cap, first * 2 ** min(failures - 1, 30)))


@dataclass(frozen=True, slots=True)
class RegistrationStatus:
    """What the health check shows about our binding at the registrar."""

    registered: bool = False
    retrying_since: datetime | None = None  # first failure of the current run of failures
    last_error: str = ""
    failures: int = 0  # consecutive
    registered_at: datetime | None = None

    def succeeded(self, now: datetime) -> RegistrationStatus:
        return RegistrationStatus(registered=True, registered_at=now, last_error=self.last_error)

    def failed(self, now: datetime, error: str) -> RegistrationStatus:
        return replace(
            self, registered=False, retrying_since=self.retrying_since or now, last_error=error,
            failures=self.failures + 1,
        )


class RegistrationTracker:
    """The current status, shared between the registration thread and readers (health, tests)."""

    def __init__(self) -> None:
        self._status = RegistrationStatus()
        self._changed = threading.Condition()

    @property
    def status(self) -> RegistrationStatus:
        return self._status

    def set(self, status: RegistrationStatus) -> None:
        with self._changed:
            self._status = status
            self._changed.notify_all()

    def wait_registered(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._status.registered, timeout)

    def wait_failures(self, count: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._status.failures >= count, timeout)


# -- keepalive: a dead registrar noticed within seconds, not at the next re-REGISTER ----------------

KEEPALIVE_SECONDS = 3.0
KEEPALIVE_MISSES = 2


@dataclass(frozen=True, slots=True)
class KeepaliveVerdict:
    """What one OPTIONS probe means: keep counting, registrar lost, or registrar back."""

    misses: int
    lost: bool = False  # this probe made the registrar count as lost
    back: bool = False  # the registrar answered after being lost: re-REGISTER at once


def keepalive_step(misses: int, answered: bool, limit: int = KEEPALIVE_MISSES) -> KeepaliveVerdict:
    """Pure: the consecutive-miss count after one probe and whether it crossed a boundary."""
    if answered:
        return KeepaliveVerdict(0, back=misses >= limit)
    return KeepaliveVerdict(misses + 1, lost=misses + 1 == limit)


def options_request(host: str, port: int, local_ip: str, local_port: int, user: str, call_id: str,
                    branch: str, tag: str) -> bytes:
    """An out-of-dialog OPTIONS addressed to the registrar itself (Kamailio answers it statelessly)."""
    return (
        f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {local_ip}:{local_port};branch={branch};rport\r\n"
        f"From: <sip:{user}@{host}>;tag={tag}\r\nTo: <sip:{host}:{port}>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
        "User-Agent: callcenter-995-keepalive\r\nContent-Length: 0\r\n\r\n"
    ).encode()


class RegistrarKeepalive:
    """Sends OPTIONS to the registrar every ``interval`` seconds from its own socket.

    ``misses`` unanswered probes in a row mark the registration lost (health false, and the failover
    channel moves alert legs to Twilio); the first answer after that asks for a REGISTER at once
    (``register_now``), since a restarted registrar has forgotten our binding. Any SIP response
    counts as an answer: the registrar is alive even if it dislikes the probe.
    """

    def __init__(self, host: str, port: int, local_ip: str, user: str, tracker: RegistrationTracker,
                 register_now: Callable[[], None], clock: Callable[[], datetime],
                 interval: float = KEEPALIVE_SECONDS, misses: int = KEEPALIVE_MISSES) -> None:
        self.host, self.port, self.local_ip, self.user = host, port, local_ip, user
        self.tracker, self.register_now, self.clock = tracker, register_now, clock
        self.interval, self.limit = interval, misses
        self.timeout = min(2.0, interval * 0.66)  # one probe's wait for its answer
        self.misses = 0
        self.probes = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="sip-keepalive", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + self.timeout + 1)
            self._thread = None

    def _run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((self.local_ip, 0))
            while not self._stopping.is_set():
                started, sent_at = time.monotonic(), self.clock()
                self.observe(self._probe(sock), sent_at)
                self._stopping.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def observe(self, answered: bool, sent_at: datetime | None = None) -> None:
        """Apply one probe's result to the shared registration status.

        A probe sent before a REGISTER that then succeeded says nothing about that registration: the
        registrar answered it, so it is alive (a probe sent just before a restarted registrar opened its
        socket must not mark the fresh binding lost two seconds later)."""
        self.probes += 1
        status = self.tracker.status
        if not answered and sent_at is not None and status.registered and status.registered_at is not None \
                and status.registered_at >= sent_at:
            answered = True
        verdict = keepalive_step(self.misses, answered, self.limit)
        self.misses = verdict.misses
        if verdict.lost:
            error = f"registrar {self.host}:{self.port} did not answer {self.limit} OPTIONS in a row"
            log.warning("%s: registration counted as lost", error)
            self.tracker.set(self.tracker.status.failed(self.clock(), error))
        elif verdict.back:
            log.info("registrar %s:%s answers again: re-REGISTER now", self.host, self.port)
            self.register_now()

    def _probe(self, sock: socket.socket) -> bool:
        call_id, token = uuid.uuid4().hex, secrets.token_hex(8)
        request = options_request(self.host, self.port, self.local_ip, sock.getsockname()[1], self.user,
                                  call_id, f"z9hG4bK{token}", token[:8])
        try:
            sock.sendto(request, (self.host, self.port))
        except OSError as exc:
            log.debug("keepalive OPTIONS not sent: %s", exc)
            return False
        return _await_answer(sock, call_id.encode(), time.monotonic() + self.timeout)


def _await_answer(sock: socket.socket, call_id: bytes, deadline: float) -> bool:
    """True when a SIP response carrying ``call_id`` arrives before ``deadline``."""
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            return False
        try:
            data = sock.recv(65535)
        except OSError:  # ICMP port unreachable on some stacks: the registrar is not there
            continue
        if data.startswith(b"SIP/2.0 ") and call_id in data:
            return True
    return False

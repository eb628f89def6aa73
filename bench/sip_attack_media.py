"""What the phones saw, and the attacker's key spray (``bench.sip_attack``).

``PhoneCalls`` reads the sipp phones' message traces as they grow: every alert call a phone received,
with the number its INVITE dialled, when it arrived, the service's RTP address and port from the
INVITE's SDP, and when the phone answered and the call ended. ``KeySpray`` is the attacker who watches
that signalling: it sends RFC 2833 "1" packets at the RTP ports of the calls that are live (ringing
or answered) from addresses that are not the phone's, at an even rate, and counts what it sent before
and after each call's answer.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.mass_stack import is_trace_stamp, trace_stamp

# Strangers: other machines, and our own host on another port than any phone's media.
SPRAY_HOSTS = ("127.0.0.2", "127.0.2.1", "127.0.2.2", "127.0.0.1", "127.0.0.3")
_REQUEST_USER = re.compile(r"^INVITE sip:([^@;>\s]+)@", re.MULTILINE)
_CALL_ID = re.compile(r"^(?:Call-ID|i):\s*(\S+)", re.MULTILINE | re.IGNORECASE)
_CSEQ = re.compile(r"^CSeq:\s*\d+\s+(\w+)", re.MULTILINE | re.IGNORECASE)
_MEDIA = re.compile(r"^m=audio (\d+) ", re.MULTILINE)
_HOST = re.compile(r"^c=IN IP4 (\S+)", re.MULTILINE)


def key_packet(sequence: int, ssrc: int) -> bytes:
    """The first packet of an RFC 2833 event "1" (marker bit, payload type 101): one key press."""
    return (bytes([0x80, 0x80 | 101]) + (sequence & 0xFFFF).to_bytes(2, "big")
            + (160 * sequence & 0xFFFFFFFF).to_bytes(4, "big") + (ssrc & 0xFFFFFFFF).to_bytes(4, "big")
            + bytes([1, 0x0A, 0, 160]))


def is_invite_ok(message: str) -> bool:
    """A 200 answering an INVITE."""
    cseq = _CSEQ.search(message)
    return message.startswith("SIP/2.0 200") and cseq is not None and cseq.group(1) == "INVITE"


@dataclass
class PhoneCall:
    """One alert call as a phone saw it (epoch seconds)."""

    number: str  # the Request-URI user: the number dialled
    call_id: str
    invited_at: float
    media: tuple[str, int] | None  # the service's RTP address and port, from the offer
    answered_at: float | None = None
    ended_at: float | None = None


@dataclass
class PhoneTrace:
    """One phone's ``-trace_msg`` file, read from where the last complete entry ended."""

    path: Path
    _offset: int = 0

    def entries(self, complete: bool = False) -> list[tuple[float, str, str]]:
        """New (stamp, "received"/"sent", message) entries since the last call. The last entry may be
        half written while the phone runs: it is read again next time, unless ``complete`` (sipp ended)."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as trace:
            trace.seek(self._offset)
            body = trace.read().decode(errors="replace")
        lines = body.splitlines(keepends=True)
        found: list[tuple[float, str, str]] = []
        starts = [n for n, line in enumerate(lines) if is_trace_stamp(line)]
        if not starts:
            return found
        ends: list[int | None] = [*starts[1:], len(lines) if complete else None]
        for first, after in zip(starts, ends, strict=True):
            if after is None:
                self._offset += len("".join(lines[:first]).encode(errors="replace"))
                break
            head, message = lines[first + 1] if first + 1 < after else "", "".join(lines[first + 2:after])
            found.append((trace_stamp(lines[first]), "received" if "received" in head else "sent", message.strip()))
        else:
            self._offset += len(body.encode(errors="replace")) if complete else 0
        return found


@dataclass
class PhoneCalls:
    """Every alert call the traced phones received, kept up to date by ``refresh``."""

    traces: list[PhoneTrace]
    calls: dict[str, PhoneCall] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, paths: list[Path]) -> PhoneCalls:
        return cls([PhoneTrace(path) for path in paths])

    def refresh(self, complete: bool = False) -> None:
        with self._lock:
            for trace in self.traces:
                for at, direction, message in trace.entries(complete):
                    self._apply(at, direction, message)

    def snapshot(self, complete: bool = False) -> list[PhoneCall]:
        """Every call so far; ``complete`` once the phones have stopped (their last entry is whole)."""
        self.refresh(complete)
        with self._lock:
            return list(self.calls.values())

    def _apply(self, at: float, direction: str, message: str) -> None:
        call_id = _CALL_ID.search(message)
        if call_id is None:
            return
        call = self.calls.get(call_id.group(1))
        first = message.split("\n", 1)[0]
        if direction == "received" and first.startswith("INVITE ") and call is None:
            user = _REQUEST_USER.search(message)
            port, host = _MEDIA.search(message), _HOST.search(message)
            media = (host.group(1), int(port.group(1))) if port and host else None
            self.calls[call_id.group(1)] = PhoneCall(user.group(1) if user else "?", call_id.group(1), at, media)
            return
        if call is None:
            return
        if direction == "sent" and is_invite_ok(message):
            call.answered_at = call.answered_at or at
        elif first.startswith(("BYE ", "CANCEL ")) or first.startswith("SIP/2.0 486"):
            call.ended_at = call.ended_at or at


@dataclass
class SprayCount:
    sent: int = 0
    before_answer: int = 0
    after_answer: int = 0
    refused: int = 0  # the port was already closed (ICMP): counted as sent, too
    calls: set[str] = field(default_factory=set)


class KeySpray:
    """Sends ``budget`` "1" packets over ``seconds`` at the RTP ports of live alert calls."""

    def __init__(self, calls: PhoneCalls, budget: int, seconds: float, tick: float = 0.02) -> None:
        self.phones, self.budget, self.seconds, self.tick = calls, budget, seconds, tick
        self.count = SprayCount()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="key-spray", daemon=True)

    def start(self) -> KeySpray:
        self._thread.start()
        return self

    def stop(self) -> SprayCount:
        self._stop.set()
        self._thread.join(10)
        return self.count

    def done(self) -> bool:
        return self.count.sent >= self.budget

    def _run(self) -> None:
        with contextlib.ExitStack() as stack:
            senders = [stack.enter_context(_socket_from(host)) for host in SPRAY_HOSTS]
            started, turn, live = time.monotonic(), 0, list[PhoneCall]()
            refreshed = 0.0
            while not self._stop.is_set() and not self.done():
                now = time.monotonic()
                if now - refreshed >= 0.1:
                    live = [c for c in self.phones.snapshot() if c.ended_at is None and c.media is not None
                            and c.media[0] != "0.0.0.0" and time.time() - c.invited_at < 60]
                    refreshed = now
                due = min(self.budget, round(self.budget * (now - started) / self.seconds)) - self.count.sent
                for _ in range(min(max(due, 0), 400) if live else 0):
                    turn += 1
                    self._send(senders[turn % len(senders)], live[turn % len(live)], turn)
                self._stop.wait(self.tick)

    def _send(self, sock: socket.socket, call: PhoneCall, sequence: int) -> None:
        assert call.media is not None
        self.count.sent += 1
        self.count.calls.add(call.call_id)
        if call.answered_at is None:
            self.count.before_answer += 1
        else:
            self.count.after_answer += 1
        try:
            sock.sendto(key_packet(sequence, 0x5EED0000 + sequence % 97), call.media)
        except OSError:  # the call's port was closed meanwhile: the kernel answered ICMP
            self.count.refused += 1


def _socket_from(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    return sock

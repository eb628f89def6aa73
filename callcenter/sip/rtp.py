"""RTP: pyVoIP's client with bounded buffers, malformed packets dropped, PCMA encoded as A-law, and
media (so key presses) taken only from the address and port the far end's SDP named."""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyVoIP.VoIP  # noqa: F401  (pyVoIP must be imported through pyVoIP.VoIP first)
from pyVoIP.RTP import PayloadType, RTPClient, RTPPacketManager, TransmitType

log = logging.getLogger(__name__)

SILENCE = b"\x80"
RTP_HEADER_BYTES = 12
# Received audio kept for a reader: 10 s. pyVoIP keeps every packet of the call for ever.
MAX_RECEIVED_BYTES = 8000 * 10
# Queued prompt audio: 10 minutes is far beyond any flow.
MAX_QUEUED_BYTES = 8000 * 600
FRAME_SECONDS = 0.02  # 160 samples at 8 kHz, the one rate of every codec pyVoIP sends
MAX_LAG_SECONDS = 0.2  # a transmitter this far behind its clock starts it again rather than burst
BURST_PACKETS = 32  # read from one socket per turn of the receiver
# Packets a socket can hold before the answer is known: its receive buffer (~200 kB) of the smallest
# datagrams. Bounded so an attacker spraying the port cannot keep the discarding loop going for ever.
EARLY_DISCARD_LIMIT = 4096
UNSPECIFIED = "0.0.0.0"  # an SDP address naming nobody: no source is trusted, nothing is sent
FOREIGN_LOG_SECONDS = 10.0  # one warning per call this often while a stranger keeps sending


@dataclass(frozen=True)
class MediaDropCounts:
    foreign: int
    early: int
    calls_with_foreign: int


class MediaDrops:
    """RTP dropped for lack of trust, counted for the whole process: /metrics shows an injection attempt.

    ``foreign``: from another source than the address and port the call's SDP named. ``early``: at an
    alert call's port before its answer was known (a key pressed then never counts).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.foreign = 0
        self.early = 0
        self.calls_with_foreign = 0

    def count_foreign(self, first_on_call: bool) -> None:
        with self._lock:
            self.foreign += 1
            self.calls_with_foreign += int(first_on_call)

    def count_early(self, packets: int) -> None:
        with self._lock:
            self.early += packets

    def snapshot(self) -> MediaDropCounts:
        with self._lock:
            return MediaDropCounts(self.foreign, self.early, self.calls_with_foreign)


MEDIA_DROPS = MediaDrops()


class AudioFifo(RTPPacketManager):
    """A bounded FIFO of 8-bit PCM in place of pyVoIP's ever-growing packet log.

    Packets are appended in arrival order (loopback and LAN: reordering is rare and a swapped
    20 ms frame is harmless for prompts and voice messages); the oldest bytes go when full.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._data = bytearray()
        self._lock = threading.Lock()
        self.log: dict[int, bytes] = {}  # kept empty: pyVoIP code that peeks at it sees nothing to rebuild

    def write(self, offset: int, data: bytes) -> None:
        with self._lock:
            self._data += data
            overflow = len(self._data) - self._limit
            if overflow > 0:
                del self._data[:overflow]

    def read(self, length: int = 160) -> bytes:
        with self._lock:
            chunk = bytes(self._data[:length])
            del self._data[:length]
        return chunk + SILENCE * (length - len(chunk))

    def pending(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class HardenedRTPClient(RTPClient):
    pmin: AudioFifo
    pmout: AudioFifo

    def __init__(
        self, assoc: dict[int, PayloadType], inIP: str, inPort: int, outIP: str, outPort: int,  # noqa: N803
        sendrecv: TransmitType, dtmf: Callable[[str], None] | None = None, sock: socket.socket | None = None,
    ) -> None:
        super().__init__(assoc, inIP, inPort, outIP, outPort, sendrecv, dtmf)
        self.bound = sock  # a socket already bound to inPort, for start() to take
        self.pmin = AudioFifo(MAX_RECEIVED_BYTES)
        self.pmout = AudioFifo(MAX_QUEUED_BYTES)
        self.dropped = 0
        self.received = 0  # packets parsed (audio or DTMF): shows a call is still heard
        self.foreign = 0  # packets from another source than the SDP's, dropped
        self.early = 0  # packets waiting at a pre-bound port when the call started, discarded
        self._next_foreign_log = 0.0
        self.send_failures = 0
        self._stopping = threading.Lock()
        self._stopped = False

    @property
    def trusted_source(self) -> tuple[str, int] | None:
        """The far end's media address and port from its SDP (re-INVITEs update them): the only source
        whose audio and key presses count; none when the SDP names 0.0.0.0. Never latched on a first
        packet, which anyone could send."""
        return None if self.outIP == UNSPECIFIED else (self.outIP, self.outPort)

    def start(self) -> None:
        """Open the socket (or take the one already bound), discard what reached it before the call
        was set up, and join the process's one RTP receiver and one transmitter instead of starting
        two threads of its own."""
        sock, self.bound = self.bound or open_rtp_socket(self.inIP, self.inPort), None
        self._discard_early(sock)
        self.sin = self.sout = sock
        RECEIVER.add(self)
        TRANSMITTER.add(self)

    def stop(self) -> None:
        """Idempotent: a call's hang-up and the phone's stop may both stop it, at the same time."""
        self.NSD = False
        with self._stopping:
            if self._stopped:
                return
            self._stopped = True
        TRANSMITTER.remove(self)
        RECEIVER.remove(self)  # before the close: the selector must not keep a closed descriptor
        self.sin.close()

    def drain(self) -> None:
        """Read what the socket holds, up to a burst: a flood on one call cannot starve the others."""
        for _ in range(BURST_PACKETS):
            try:
                packet, source = self.sin.recvfrom(8192)
            except OSError:  # nothing more (BlockingIOError), or closed by stop()
                return
            self._accept(packet, source)

    def send_frame(self) -> None:
        """One 20 ms packet of the queued audio (silence when none), as pyVoIP's transmitter builds it."""
        payload = self.encode_packet(self.pmout.read())
        header = struct.pack("!BBHII", 0x80, int(self.preference), self.outSequence, self.outTimestamp, self.outSSRC)
        try:
            if self.outIP != UNSPECIFIED:  # c=0.0.0.0: the far end wants no media (held); Linux would loop it back
                self.sout.sendto(header + payload, (self.outIP, self.outPort))
        except OSError:
            self.send_failures += 1
        self.outSequence = (self.outSequence + 1) & 0xFFFF
        self.outTimestamp = (self.outTimestamp + len(payload)) & 0xFFFFFFFF

    def _discard_early(self, sock: socket.socket) -> None:
        """An alert call's port is bound before its INVITE leaves; whatever waits there came before
        we knew the answer's SDP, so from nobody we can trust: a key pressed before the call was
        answered (or sprayed at the RTP range while the phone rang) must never acknowledge."""
        early = discard_waiting(sock, EARLY_DISCARD_LIMIT)
        if early:
            self.early += early
            MEDIA_DROPS.count_early(early)
            log.warning("RTP port %d: %d packets that came before the call was answered discarded", self.inPort, early)

    def _accept(self, packet: bytes, source: tuple[str, int]) -> None:
        if len(packet) <= RTP_HEADER_BYTES:
            self.dropped += 1
            return
        if source != self.trusted_source:
            self._drop_foreign(source)
            return
        try:
            self.parse_packet(packet)
        except Exception as exc:  # a malformed packet must never end the call
            self.dropped += 1
            log.debug("RTP packet dropped: %s", exc)
            return
        self.received += 1

    def _drop_foreign(self, source: tuple[str, int]) -> None:
        """Nobody but the SDP's source speaks or presses keys on this call; an attempt is counted and
        logged, once per FOREIGN_LOG_SECONDS per call so a flood cannot flood the log too."""
        self.foreign += 1
        MEDIA_DROPS.count_foreign(first_on_call=self.foreign == 1)
        now = time.monotonic()
        if now >= self._next_foreign_log:
            self._next_foreign_log = now + FOREIGN_LOG_SECONDS
            log.warning("RTP port %d: packet from %s:%s dropped, the SDP names %s:%s (%d from strangers on this "
                        "call)", self.inPort, source[0], source[1], self.outIP, self.outPort, self.foreign)

    def encode_packet(self, payload: bytes) -> bytes:
        if self.preference == PayloadType.PCMA:
            return bytes(self.encode_pcma(payload))
        return bytes(super().encode_packet(payload))

    def queued_audio(self) -> int:
        return self.pmout.pending()

    def drop_queued_audio(self) -> None:
        self.pmout.clear()


def open_rtp_socket(ip: str, port: int) -> socket.socket:
    """A non-blocking UDP socket bound to ``ip:port`` (closed again when the bind fails: pyVoIP
    leaves it open)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((ip, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def discard_waiting(sock: socket.socket, limit: int) -> int:
    """Read and drop what a non-blocking socket holds now (at most ``limit`` datagrams); how many."""
    for discarded in range(limit):
        try:
            sock.recv(1)  # the rest of the datagram is dropped by the kernel
        except OSError:  # empty (BlockingIOError)
            return discarded
    return limit


class Transmitter:
    """Every call's RTP sent from one thread, on one 20 ms clock.

    pyVoIP gives each call a transmitter thread that sleeps 20 ms between packets and drifts: with a
    hundred calls up that was 5,000 wake-ups a second contending with the engine for the
    interpreter lock, and fewer than 50 packets a second per call on a loaded machine. One clock
    for all calls wakes 50 times a second; a late tick is made up at once, and a lag over 200 ms
    (the process stalled) restarts the clock instead of bursting. The thread ends with the last call.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: list[HardenedRTPClient] = []
        self._running = False

    def add(self, client: HardenedRTPClient) -> None:
        with self._lock:
            self._clients.append(client)
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="RTP transmitter", daemon=True).start()

    def remove(self, client: HardenedRTPClient) -> None:
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)

    def _run(self) -> None:
        due = time.monotonic()
        while clients := self._snapshot():
            for client in clients:
                try:
                    client.send_frame()
                except Exception:  # one call's fault must not silence the others
                    log.exception("RTP frame not sent to %s:%s", client.outIP, client.outPort)
            due += FRAME_SECONDS
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -MAX_LAG_SECONDS:
                due = time.monotonic()

    def _snapshot(self) -> tuple[HardenedRTPClient, ...]:
        with self._lock:
            if not self._clients:
                self._running = False
            return tuple(self._clients)


class Receiver:
    """Every call's RTP read by one thread waiting on all the sockets at once (pyVoIP: a thread per
    call polling its socket). The thread ends with the last call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._selector: selectors.BaseSelector | None = None

    def add(self, client: HardenedRTPClient) -> None:
        with self._lock:
            if self._selector is None:
                self._selector = selectors.DefaultSelector()
                threading.Thread(target=self._run, args=(self._selector,), name="RTP receiver", daemon=True).start()
            self._selector.register(client.sin, selectors.EVENT_READ, client)

    def remove(self, client: HardenedRTPClient) -> None:
        with self._lock:
            if self._selector is not None:
                with contextlib.suppress(KeyError, ValueError):  # never registered, or closed elsewhere
                    self._selector.unregister(client.sin)

    def _run(self, selector: selectors.BaseSelector) -> None:
        while self._serving(selector):
            # A short wait: a socket added meanwhile is watched from the next turn on.
            for key, _ in selector.select(0.05):
                try:
                    key.data.drain()
                except Exception:  # one call's fault must not deafen the others
                    log.exception("RTP from %s:%s not read", key.data.outIP, key.data.outPort)

    def _serving(self, selector: selectors.BaseSelector) -> bool:
        with self._lock:
            if selector.get_map():
                return True
            self._selector = None
            selector.close()
            return False


TRANSMITTER = Transmitter()
RECEIVER = Receiver()

"""RTP: pyVoIP's client with bounded buffers, malformed packets dropped, PCMA encoded as A-law, and
media (so key presses) taken only from the address and port the far end's SDP named.

Each call also speaks RTCP (RFC 3550) on its RTP port + 1: a sender or receiver report about every
RTCP_INTERVAL seconds, and the far end's reports read (only from the address and RTCP port its SDP
implies: strangers' packets are dropped and counted, as for RTP). What was received (loss, jitter)
and what the far end reports about our stream are logged when the call ends and summed on /metrics.
Sending follows the far end's SDP direction (RFC 3264): held (sendonly/inactive, or c=0.0.0.0), no
RTP leaves and queued prompt audio waits; the first packet after a pause carries the marker bit.
"""

from __future__ import annotations

import contextlib
import logging
import random
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyVoIP.VoIP  # noqa: F401  (pyVoIP must be imported through pyVoIP.VoIP first)
from pyVoIP.RTP import PayloadType, RTPClient, RTPPacketManager, TransmitType

from callcenter.sip import rtcp, sdp

__all__ = [
    "BURST_PACKETS",
    "EARLY_DISCARD_LIMIT",
    "FOREIGN_LOG_SECONDS",
    "FRAME_SAMPLES",
    "FRAME_SECONDS",
    "MARKER",
    "MAX_LAG_SECONDS",
    "MAX_QUEUED_BYTES",
    "MAX_RECEIVED_BYTES",
    "MEDIA_DROPS",
    "MEDIA_QUALITY",
    "RECEIVER",
    "RTCP_INTERVAL",
    "RTP_HEADER_BYTES",
    "SILENCE",
    "TRANSMITTER",
    "UNSPECIFIED",
    "AudioFifo",
    "CallMediaQuality",
    "HardenedRTPClient",
    "MediaDropCounts",
    "MediaDrops",
    "MediaQuality",
    "MediaQualityTotals",
    "Receiver",
    "Transmitter",
    "discard_waiting",
    "open_rtp_socket",
]

log = logging.getLogger(__name__)

SILENCE = b"\x80"
RTP_HEADER_BYTES = 12
# Received audio kept for a reader: 10 s. pyVoIP keeps every packet of the call for ever.
MAX_RECEIVED_BYTES = 8000 * 10
# Queued prompt audio: 10 minutes is far beyond any flow.
MAX_QUEUED_BYTES = 8000 * 600
FRAME_SECONDS = 0.02  # 160 samples at 8 kHz, the one rate of every codec pyVoIP sends
FRAME_SAMPLES = 160
MAX_LAG_SECONDS = 0.2  # a transmitter this far behind its clock starts it again rather than burst
BURST_PACKETS = 32  # read from one socket per turn of the receiver
# Packets a socket can hold before the answer is known: its receive buffer (~200 kB) of the smallest
# datagrams. Bounded so an attacker spraying the port cannot keep the discarding loop going for ever.
EARLY_DISCARD_LIMIT = 4096
UNSPECIFIED = "0.0.0.0"  # an SDP address naming nobody: no source is trusted, nothing is sent
FOREIGN_LOG_SECONDS = 10.0  # one warning per call this often while a stranger keeps sending
RTCP_INTERVAL = 5.0  # RFC 3550's minimum; each interval is randomised to 0.5-1.5 times it (section 6.3.1)
MARKER = 0x80


@dataclass(frozen=True)
class MediaDropCounts:
    foreign: int
    early: int
    calls_with_foreign: int
    rtcp_foreign: int = 0


class MediaDrops:
    """RTP dropped for lack of trust, counted for the whole process: /metrics shows an injection attempt.

    ``foreign``: from another source than the address and port the call's SDP named. ``early``: at an
    alert call's port before its answer was known (a key pressed then never counts). ``rtcp_foreign``:
    RTCP at a call's RTCP port from another source than the far end's RTCP address.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.foreign = 0
        self.early = 0
        self.calls_with_foreign = 0
        self.rtcp_foreign = 0

    def count_rtcp_foreign(self) -> None:
        with self._lock:
            self.rtcp_foreign += 1

    def count_foreign(self, first_on_call: bool) -> None:
        with self._lock:
            self.foreign += 1
            self.calls_with_foreign += int(first_on_call)

    def count_early(self, packets: int) -> None:
        with self._lock:
            self.early += packets

    def snapshot(self) -> MediaDropCounts:
        with self._lock:
            return MediaDropCounts(self.foreign, self.early, self.calls_with_foreign, self.rtcp_foreign)


MEDIA_DROPS = MediaDrops()


@dataclass(frozen=True)
class CallMediaQuality:
    """One call's media, as we received it and as the far end's RTCP reported ours."""

    received: rtcp.ReceptionSnapshot
    far_end: rtcp.FarEndReport | None
    rtp_sent: int
    rtcp_sent: int
    rtcp_received: int

    def describe(self) -> str:
        got = self.received
        text = (f"received {got.received} of {got.expected} RTP packets ({got.loss_fraction:.1%} lost), "
                f"jitter {got.jitter_ms:.1f} ms; sent {self.rtp_sent} RTP, {self.rtcp_sent} RTCP; "
                f"{self.rtcp_received} RTCP reports read")
        if self.far_end is not None:
            text += (f"; the far end reports {self.far_end.cumulative_lost} of ours lost "
                     f"({self.far_end.fraction_lost:.1%} lately), jitter {self.far_end.jitter_ms:.1f} ms")
        return text


@dataclass(frozen=True)
class MediaQualityTotals:
    calls: int = 0
    expected: int = 0
    lost: int = 0
    jitter_ms_sum: float = 0.0
    jitter_ms_max: float = 0.0
    far_end_reports: int = 0  # calls whose far end sent an RTCP report on our stream
    far_end_lost: int = 0
    far_end_jitter_ms_max: float = 0.0
    rtcp_sent: int = 0
    rtcp_received: int = 0


class MediaQuality:
    """Ended calls' media quality summed for the whole process (/metrics)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals = MediaQualityTotals()

    def record(self, call: CallMediaQuality) -> None:
        got, far = call.received, call.far_end
        with self._lock:
            t = self._totals
            self._totals = MediaQualityTotals(
                t.calls + 1, t.expected + got.expected, t.lost + got.lost, t.jitter_ms_sum + got.jitter_ms,
                max(t.jitter_ms_max, got.jitter_ms), t.far_end_reports + int(far is not None),
                t.far_end_lost + (max(0, far.cumulative_lost) if far else 0),
                max(t.far_end_jitter_ms_max, far.jitter_ms if far else 0.0),
                t.rtcp_sent + call.rtcp_sent, t.rtcp_received + call.rtcp_received)

    def snapshot(self) -> MediaQualityTotals:
        with self._lock:
            return self._totals


MEDIA_QUALITY = MediaQuality()


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
        self.preference = sdp.audio_codec(assoc)  # pyVoIP takes the first entry, even telephone-event
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
        # Media direction and talk-spurts: held, nothing is sent; the next packet sent carries the marker.
        self.sending = True
        self._talkspurt = True
        self.sent_packets = self.sent_octets = 0
        # RTCP on inPort + 1, to the far end's RTCP port (its RTP port + 1 unless its SDP says a=rtcp).
        self.rtcp_port = outPort + 1
        self.rtcp_sock: socket.socket | None = None
        self.reception = rtcp.ReceptionStats()
        self.far_end: rtcp.FarEndReport | None = None
        self.rtcp_sent = self.rtcp_received = self.rtcp_foreign = self.rtcp_dropped = 0
        self._sent_since_report = False
        self._rtcp_due: float | None = None
        self._stats_lock = threading.Lock()

    @property
    def trusted_source(self) -> tuple[str, int] | None:
        """The far end's media address and port from its SDP (re-INVITEs update them): the only source
        whose audio and key presses count; none when the SDP names 0.0.0.0. Never latched on a first
        packet, which anyone could send."""
        return None if self.outIP == UNSPECIFIED else (self.outIP, self.outPort)

    @property
    def trusted_rtcp_source(self) -> tuple[str, int] | None:
        return None if self.outIP == UNSPECIFIED else (self.outIP, self.rtcp_port)

    # -- the far end's SDP ---------------------------------------------------------------------
    def apply_remote(self, address: str, port: int, body: Mapping[str, Any]) -> None:
        """The far end's (new) SDP: where its media and RTCP go, and whether it wants ours (held)."""
        self.outIP, self.outPort = address, port
        self.rtcp_port = sdp.rtcp_port(body, port)
        self.set_direction(sdp.direction_of(body))

    def set_direction(self, remote: TransmitType) -> None:
        sending = sdp.we_send(remote)
        if sending and not self.sending:
            self._talkspurt = True
        self.sending = sending

    def set_codecs(self, assoc: dict[int, PayloadType]) -> None:
        """Payload types from a new offer; we send with its first G.711 codec from now on."""
        self.preference = sdp.audio_codec(assoc)
        self.assoc = assoc

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Open the socket (or take the one already bound), discard what reached it before the call
        was set up, open the RTCP socket next to it, and join the process's one RTP receiver and one
        transmitter instead of starting two threads of its own."""
        sock, self.bound = self.bound or open_rtp_socket(self.inIP, self.inPort), None
        self._discard_early(sock)
        self.sin = self.sout = sock
        self.rtcp_sock = self._open_rtcp()
        RECEIVER.add(self)
        TRANSMITTER.add(self)

    def _open_rtcp(self) -> socket.socket | None:
        """RTCP is a report, not the call: a port someone else holds leaves this call without it."""
        try:
            sock = open_rtp_socket(self.inIP, self.inPort + 1)
        except OSError as exc:
            log.warning("RTCP port %d not opened (%s): this call sends and reads no RTCP", self.inPort + 1, exc)
            return None
        discard_waiting(sock, EARLY_DISCARD_LIMIT)
        return sock

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
        if self.rtcp_sock is not None:
            self.rtcp_sock.close()

    def quality(self) -> CallMediaQuality:
        with self._stats_lock:
            received = self.reception.snapshot()
        return CallMediaQuality(received, self.far_end, self.sent_packets, self.rtcp_sent, self.rtcp_received)

    # -- receiving -----------------------------------------------------------------------------
    def drain(self) -> None:
        """Read what the socket holds, up to a burst: a flood on one call cannot starve the others."""
        for _ in range(BURST_PACKETS):
            try:
                packet, source = self.sin.recvfrom(8192)
            except OSError:  # nothing more (BlockingIOError), or closed by stop()
                return
            self._accept(packet, source)

    def drain_rtcp(self) -> None:
        for _ in range(BURST_PACKETS):
            try:
                packet, source = self.rtcp_sock.recvfrom(2048)  # type: ignore[union-attr]
            except (OSError, AttributeError):
                return
            self._accept_rtcp(packet, source, time.monotonic())

    # -- sending -------------------------------------------------------------------------------
    def tick(self, now: float, wallclock: float) -> None:
        """One turn of the transmitter's 20 ms clock: a frame, and an RTCP report when one is due."""
        self.send_frame()
        if self._rtcp_due is None:  # the first report after about half an interval (RFC 3550 6.2)
            self._rtcp_due = now + RTCP_INTERVAL * random.uniform(0.25, 0.75)
        elif now >= self._rtcp_due:
            self._rtcp_due = now + RTCP_INTERVAL * random.uniform(0.5, 1.5)
            self.send_rtcp(now, wallclock)

    def send_frame(self) -> None:
        """One 20 ms packet of the queued audio (silence when none), as pyVoIP's transmitter builds it.
        Held (the far end's SDP says sendonly or inactive, or names 0.0.0.0: Linux would loop it back),
        nothing is sent nor taken from the queue; the timestamp runs on, the sequence number does not."""
        if not self.sending or self.outIP == UNSPECIFIED:
            self._talkspurt = True
            self.outTimestamp = (self.outTimestamp + FRAME_SAMPLES) & 0xFFFFFFFF
            return
        payload = self.encode_packet(self.pmout.read())
        marker = MARKER if self._talkspurt else 0
        self._talkspurt = False
        header = struct.pack("!BBHII", 0x80, marker | int(self.preference), self.outSequence, self.outTimestamp,
                             self.outSSRC)
        try:
            self.sout.sendto(header + payload, (self.outIP, self.outPort))
            self.sent_packets += 1
            self.sent_octets += len(payload)
            self._sent_since_report = True
        except OSError:
            self.send_failures += 1
        self.outSequence = (self.outSequence + 1) & 0xFFFF
        self.outTimestamp = (self.outTimestamp + len(payload)) & 0xFFFFFFFF

    def send_rtcp(self, now: float, wallclock: float) -> None:
        """A compound SR (we sent RTP since the last report) or RR, with a report block on the far end's
        stream once it has sent any, and our CNAME. Sent while held too (RFC 3264 5.1)."""
        if self.rtcp_sock is None or self.outIP == UNSPECIFIED:
            return
        with self._stats_lock:
            blocks = [self.reception.report_block(now)] if self.reception.ssrc is not None else []
        sending = rtcp.Sending(self.outSSRC, self.sent_packets, self.sent_octets, self.outTimestamp, wallclock)
        packet = rtcp.compound(sending, self._sent_since_report, blocks, f"995@{self.inIP}")
        self._sent_since_report = False
        try:
            self.rtcp_sock.sendto(packet, (self.outIP, self.rtcp_port))
            self.rtcp_sent += 1
        except OSError:
            self.send_failures += 1

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
        self._count(packet, time.monotonic())

    def _count(self, packet: bytes, arrival: float) -> None:
        _, kind, sequence, timestamp, ssrc = struct.unpack_from("!BBHII", packet)
        audio = self.assoc.get(kind & 0x7F) in sdp.G711
        with self._stats_lock:
            self.reception.update(ssrc, sequence, timestamp, arrival, audio)

    def _accept_rtcp(self, packet: bytes, source: tuple[str, int], arrival: float) -> None:
        """The far end's report: only from its RTCP address (a stranger's would forge our call's
        quality figures); malformed ones are dropped."""
        if source != self.trusted_rtcp_source:
            self.rtcp_foreign += 1
            MEDIA_DROPS.count_rtcp_foreign()
            log.debug("RTCP port %d: packet from %s:%s dropped", self.inPort + 1, source[0], source[1])
            return
        try:
            report = rtcp.parse(packet, self.outSSRC)
        except (rtcp.Malformed, struct.error):
            self.rtcp_dropped += 1
            return
        self.rtcp_received += 1
        if report.report is not None:
            self.far_end = report.report
        if report.sender_report:
            with self._stats_lock:
                self.reception.sender_report_seen(report.ntp_middle, arrival)

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
            now, wallclock = time.monotonic(), time.time()
            for client in clients:
                try:
                    client.tick(now, wallclock)
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
            self._selector.register(client.sin, selectors.EVENT_READ, (client, client.drain))
            if client.rtcp_sock is not None:
                self._selector.register(client.rtcp_sock, selectors.EVENT_READ, (client, client.drain_rtcp))

    def remove(self, client: HardenedRTPClient) -> None:
        with self._lock:
            if self._selector is not None:
                for sock in (client.sin, client.rtcp_sock):
                    with contextlib.suppress(KeyError, ValueError, AttributeError):  # never registered, or closed
                        self._selector.unregister(sock)  # type: ignore[arg-type]

    def _run(self, selector: selectors.BaseSelector) -> None:
        while self._serving(selector):
            # A short wait: a socket added meanwhile is watched from the next turn on.
            for key, _ in selector.select(0.05):
                client, drain = key.data
                try:
                    drain()
                except Exception:  # one call's fault must not deafen the others
                    log.exception("RTP from %s:%s not read", client.outIP, client.outPort)

    def _serving(self, selector: selectors.BaseSelector) -> bool:
        with self._lock:
            if selector.get_map():
                return True
            self._selector = None
            selector.close()
            return False


TRANSMITTER = Transmitter()
RECEIVER = Receiver()

"""RTP: pyVoIP's client with bounded buffers, malformed packets dropped, and PCMA encoded as A-law."""

from __future__ import annotations

import logging
import select
import socket
import threading
from collections.abc import Callable

import pyVoIP.VoIP  # noqa: F401  (pyVoIP must be imported through pyVoIP.VoIP first)
from pyVoIP.RTP import PayloadType, RTPClient, RTPPacketManager, TransmitType

log = logging.getLogger(__name__)

SILENCE = b"\x80"
RTP_HEADER_BYTES = 12
# Received audio kept for a reader: 10 s. pyVoIP keeps every packet of the call for ever.
MAX_RECEIVED_BYTES = 8000 * 10
# Queued prompt audio: 10 minutes is far beyond any flow.
MAX_QUEUED_BYTES = 8000 * 600


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
        sendrecv: TransmitType, dtmf: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(assoc, inIP, inPort, outIP, outPort, sendrecv, dtmf)
        self.pmin = AudioFifo(MAX_RECEIVED_BYTES)
        self.pmout = AudioFifo(MAX_QUEUED_BYTES)
        self.dropped = 0
        self.received = 0  # packets parsed (audio or DTMF): shows a call is still heard
        self.foreign = 0  # packets from another source than the peer's, dropped
        self.peer: tuple[str, int] | None = None  # latched on the first good packet

    def start(self) -> None:
        """pyVoIP's start, closing the socket when the bind fails (pyVoIP leaves it open)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.inIP, self.inPort))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self.sin = self.sout = sock
        for name, loop in (("RTP Receiver", self.recv), ("RTP Transmitter", self.trans)):
            threading.Thread(target=loop, name=name, daemon=True).start()

    def recv(self) -> None:
        """Receive loop that survives anything a peer sends: short, garbled or unknown packets are dropped."""
        while self.NSD:
            try:
                ready, _, _ = select.select([self.sin], [], [], 0.05)
                if not ready:
                    continue
                packet, source = self.sin.recvfrom(8192)
            except (OSError, ValueError):  # socket closed by stop()
                if not self.NSD:
                    return
                continue
            self._accept(packet, source)

    def _accept(self, packet: bytes, source: tuple[str, int] | None = None) -> None:
        if len(packet) <= RTP_HEADER_BYTES:
            self.dropped += 1
            return
        if self.peer is not None and source is not None and source != self.peer:
            # Symmetric RTP: once the peer is known, nobody else speaks (or presses keys) on this call.
            self.foreign += 1
            return
        try:
            self.parse_packet(packet)
        except Exception as exc:  # a malformed packet must never end the call
            self.dropped += 1
            log.debug("RTP packet dropped: %s", exc)
            return
        self.received += 1
        if self.peer is None:
            self.peer = source

    def encode_packet(self, payload: bytes) -> bytes:
        if self.preference == PayloadType.PCMA:
            return bytes(self.encode_pcma(payload))
        return bytes(super().encode_packet(payload))

    def queued_audio(self) -> int:
        return self.pmout.pending()

    def drop_queued_audio(self) -> None:
        self.pmout.clear()

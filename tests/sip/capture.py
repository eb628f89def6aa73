"""UDP on the loopback interface, as the phones receive it: kernel arrival times of every datagram.

A packet socket (AF_PACKET, needs root or CAP_NET_RAW, as the rigs have) on ``lo`` sees each
datagram once as it is delivered; the kernel stamps it (SO_TIMESTAMPNS) when it arrives, so the
times do not depend on when this thread gets to read it. Kept per datagram: arrival, source and
destination ports, the RTP header fields when it looks like RTP, else the payload (SIP).
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field

ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35  # Linux; SCM_TIMESTAMPNS has the same value


@dataclass(frozen=True, slots=True)
class Datagram:
    at: float  # epoch s, kernel arrival
    source_port: int
    destination_port: int
    payload_type: int  # RTP payload type without the marker bit (-1: not RTP)
    marker: bool
    sequence: int
    timestamp: int
    size: int  # UDP payload bytes
    text: bytes = b""  # the payload of what is not RTP (SIP messages), else empty


@dataclass
class LoopbackCapture:
    """Every UDP datagram on lo whose destination port is in ``ports`` (all when empty)."""

    ports: set[int] = field(default_factory=set)
    datagrams: list[Datagram] = field(default_factory=list)
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> LoopbackCapture:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.bind(("lo", 0))
        self._sock = sock
        self._thread = threading.Thread(target=self._read, args=(sock,), daemon=True, name="lo-capture")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def to_port(self, port: int, since: float = 0.0, until: float = float("inf")) -> list[Datagram]:
        with self._lock:
            return [d for d in self.datagrams if d.destination_port == port and since <= d.at < until]

    def _read(self, sock: socket.socket) -> None:
        while True:
            try:
                data, ancillary, _, address = sock.recvmsg(65535, 64)
            except OSError:
                return
            if address[2] == PACKET_OUTGOING or len(data) < 28 or data[9] != socket.IPPROTO_UDP:
                continue
            header = (data[0] & 0x0F) * 4
            source, destination = struct.unpack_from("!HH", data, header)
            if self.ports and destination not in self.ports:
                continue
            at = next((sec + nsec / 1e9 for level, kind, value in ancillary
                       if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS
                       for sec, nsec in [struct.unpack("qq", value[:16])]), 0.0)
            payload = data[header + 8:]
            rtp = len(payload) >= 12 and payload[0] >> 6 == 2
            kind, sequence, timestamp = struct.unpack_from("!xBHI", payload) if rtp else (0xFF, 0, 0)
            with self._lock:
                self.datagrams.append(Datagram(at, source, destination, kind & 0x7F if rtp else -1,
                                               bool(kind & 0x80) if rtp else False, sequence, timestamp,
                                               len(payload), b"" if rtp else bytes(payload[:2000])))

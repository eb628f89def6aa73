"""RTCP (RFC 3550 section 6 and appendix A): reception statistics, sender and receiver reports.

Pure: times are passed in (``arrival`` in seconds on any monotonic scale, ``wallclock`` in Unix
seconds for the NTP timestamp). ``ReceptionStats`` follows appendix A.1/A.3/A.8 (sequence
cycles, expected and lost packets, interarrival jitter); ``compound`` builds an SR or RR followed
by the SDES CNAME every compound packet needs; ``parse`` reads one, validated as appendix A.2
says, and returns what a report from the far end says about our stream.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "CLOCK_RATE",
    "CNAME",
    "MAX_DROPOUT",
    "MAX_MISORDER",
    "NTP_EPOCH_OFFSET",
    "REPORT_BLOCK",
    "SEQ_MOD",
    "VERSION",
    "FarEndReport",
    "Malformed",
    "Received",
    "ReceptionSnapshot",
    "ReceptionStats",
    "Sending",
    "compound",
    "ntp_middle",
    "parse",
]

VERSION = 2
SR, RR, SDES, BYE = 200, 201, 202, 203
CNAME = 1
CLOCK_RATE = 8000  # G.711's RTP clock
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900 to 1970
MAX_DROPOUT = 3000
MAX_MISORDER = 100
SEQ_MOD = 1 << 16
REPORT_BLOCK = struct.Struct("!IB3sIIII")


@dataclass(frozen=True, slots=True)
class ReceptionSnapshot:
    """What we received of the far end's stream so far."""

    received: int = 0
    expected: int = 0
    jitter_ms: float = 0.0

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.received)

    @property
    def loss_fraction(self) -> float:
        return self.lost / self.expected if self.expected else 0.0


@dataclass(frozen=True, slots=True)
class FarEndReport:
    """A report block the far end sent about our stream (its SR or RR)."""

    fraction_lost: float  # of the packets expected since its previous report, 0..1
    cumulative_lost: int
    jitter_ms: float


@dataclass(frozen=True, slots=True)
class Received:
    """One parsed compound RTCP packet: the sender's SSRC, its report on us (if any), its SR's NTP time."""

    ssrc: int
    report: FarEndReport | None
    sender_report: bool
    ntp_middle: int = 0  # middle 32 bits of its SR's NTP timestamp (our next LSR)


class ReceptionStats:
    """Appendix A.1 (sequence numbers and their cycles) and A.8 (jitter) for one source."""

    def __init__(self) -> None:
        self.ssrc: int | None = None
        self.base_seq = self.max_seq = self.cycles = self.received = 0
        self.jitter = 0.0  # in RTP timestamp units
        self._transit: float | None = None
        self._expected_prior = self._received_prior = 0
        self.last_sr = 0  # middle bits of the last SR's NTP time, and when it arrived
        self.last_sr_at: float | None = None

    def update(self, ssrc: int, seq: int, timestamp: int, arrival: float, audio: bool = True) -> None:
        """One RTP packet that was accepted; ``audio`` false for key events (their timestamps hold
        still for a whole press, so they say nothing about jitter)."""
        if ssrc != self.ssrc:  # a new source (the far end restarted its stream): start over
            self._restart(ssrc, seq)
        else:
            self._sequence(seq)
        self.received += 1
        if audio:
            self._jitter(timestamp, arrival)

    def _restart(self, ssrc: int, seq: int) -> None:
        self.ssrc, self.base_seq, self.max_seq, self.cycles, self.received = ssrc, seq, seq, 0, 0
        self._expected_prior = self._received_prior = 0
        self._transit = None

    def _sequence(self, seq: int) -> None:
        delta = (seq - self.max_seq) % SEQ_MOD
        if 0 < delta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += SEQ_MOD
            self.max_seq = seq
        elif delta >= SEQ_MOD - MAX_MISORDER or delta == 0:
            return  # duplicate or reordered: counted as received, the highest stays
        else:  # a jump too large to be loss: the sender restarted its sequence
            assert self.ssrc is not None
            self._restart(self.ssrc, seq)

    def _jitter(self, timestamp: int, arrival: float) -> None:
        transit = arrival * CLOCK_RATE - timestamp
        if self._transit is not None:
            difference = abs(transit - self._transit)
            self.jitter += (difference - self.jitter) / 16
        self._transit = transit

    @property
    def expected(self) -> int:
        return self.cycles + self.max_seq - self.base_seq + 1 if self.ssrc is not None else 0

    def snapshot(self) -> ReceptionSnapshot:
        return ReceptionSnapshot(self.received, self.expected, self.jitter * 1000 / CLOCK_RATE)

    def report_block(self, now: float) -> bytes:
        """The report block on this source for our next SR/RR (appendix A.3); resets the interval."""
        assert self.ssrc is not None
        expected = self.expected
        expected_interval = expected - self._expected_prior
        lost_interval = expected_interval - (self.received - self._received_prior)
        self._expected_prior, self._received_prior = expected, self.received
        fraction = (lost_interval << 8) // expected_interval if expected_interval > 0 and lost_interval > 0 else 0
        lost = max(-(1 << 23), min((1 << 23) - 1, expected - self.received)) & 0xFFFFFF
        delay = 0
        if self.last_sr_at is not None:
            delay = int((now - self.last_sr_at) * 65536) & 0xFFFFFFFF
        return REPORT_BLOCK.pack(self.ssrc, min(fraction, 255), lost.to_bytes(3, "big"),
                                 (self.cycles | self.max_seq) & 0xFFFFFFFF, int(self.jitter) & 0xFFFFFFFF,
                                 self.last_sr, delay)

    def sender_report_seen(self, ntp_middle: int, arrival: float) -> None:
        self.last_sr, self.last_sr_at = ntp_middle, arrival


@dataclass(frozen=True, slots=True)
class Sending:
    """Our side of an SR: what we sent so far and the RTP timestamp matching ``wallclock``."""

    ssrc: int
    packets: int
    octets: int
    rtp_timestamp: int
    wallclock: float


def compound(sending: Sending, sent_since_last: bool, blocks: list[bytes], cname: str) -> bytes:
    """SR (when we sent RTP since the last report) or RR, then SDES with our CNAME (section 6.1)."""
    body = b"".join(blocks[:31])
    count = len(blocks[:31])
    if sent_since_last:
        seconds = sending.wallclock + NTP_EPOCH_OFFSET
        ntp = (int(seconds) << 32 | int((seconds % 1) * (1 << 32))) & 0xFFFFFFFFFFFFFFFF
        info = struct.pack("!IQIII", sending.ssrc, ntp, sending.rtp_timestamp & 0xFFFFFFFF,
                           sending.packets & 0xFFFFFFFF, sending.octets & 0xFFFFFFFF)
        report = _header(SR, count, info + body)
    else:
        report = _header(RR, count, struct.pack("!I", sending.ssrc) + body)
    return report + _sdes(sending.ssrc, cname)


def _header(kind: int, count: int, payload: bytes) -> bytes:
    return struct.pack("!BBH", VERSION << 6 | count, kind, len(payload) // 4) + payload


def _sdes(ssrc: int, cname: str) -> bytes:
    text = cname.encode()[:255]
    chunk = struct.pack("!IBB", ssrc, CNAME, len(text)) + text + b"\x00"
    chunk += b"\x00" * (-len(chunk) % 4)
    return _header(SDES, 1, chunk)


def ntp_middle(wallclock: float) -> int:
    seconds = wallclock + NTP_EPOCH_OFFSET
    return ((int(seconds) & 0xFFFF) << 16) | int((seconds % 1) * 65536)


class Malformed(ValueError):
    """Not a valid compound RTCP packet (appendix A.2)."""


def parse(data: bytes, our_ssrc: int) -> Received:
    """A compound packet: validated (version 2, first an SR or RR, lengths adding up to the datagram)."""
    if len(data) < 8 or data[0] >> 6 != VERSION or data[1] not in (SR, RR) or data[0] & 0x20:
        raise Malformed("not an RTCP compound packet starting with SR or RR")
    offset, first = 0, None
    while offset < len(data):
        if len(data) - offset < 4 or data[offset] >> 6 != VERSION:
            raise Malformed("truncated or wrong version inside the compound packet")
        length = (struct.unpack_from("!H", data, offset + 2)[0] + 1) * 4
        if offset + length > len(data):
            raise Malformed("a packet's length runs past the datagram")
        if first is None:
            first = _report(data[offset:offset + length], our_ssrc)
        offset += length
    assert first is not None
    return first


def _report(packet: bytes, our_ssrc: int) -> Received:
    count, kind = packet[0] & 0x1F, packet[1]
    ssrc = struct.unpack_from("!I", packet, 4)[0]
    start, middle = 8, 0
    if kind == SR:
        if len(packet) < 28:
            raise Malformed("sender report too short")
        middle = (struct.unpack_from("!Q", packet, 8)[0] >> 16) & 0xFFFFFFFF
        start = 28
    if len(packet) < start + count * REPORT_BLOCK.size:
        raise Malformed("report blocks run past the packet")
    report = None
    for index in range(count):
        block = REPORT_BLOCK.unpack_from(packet, start + index * REPORT_BLOCK.size)
        if block[0] == our_ssrc:
            report = _far_end(block)
    return Received(ssrc, report, kind == SR, middle)


def _far_end(block: tuple[int, int, bytes, int, int, int, int]) -> FarEndReport:
    lost = int.from_bytes(block[2], "big")
    if lost & 0x800000:
        lost -= 1 << 24
    return FarEndReport(block[1] / 256, lost, block[4] * 1000 / CLOCK_RATE)

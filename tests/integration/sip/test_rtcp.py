"""RTCP (RFC 3550) on a call's RTP port + 1, with real sockets as the far end (issue #23).

The far end has an RTP socket on an even port and its RTCP socket on the next, as its SDP implies. It
sends 20 ms audio with two packets missing and a stranger sends forged RTCP; the call's reports
(SR while it sends, RR while held) reach the far end's RTCP port and say what we lost; the far
end's RR about our stream is read, the stranger's is dropped and counted, and the figures reach
/metrics's collector when the call ends. The marker bit starts each talk-spurt.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from pyVoIP.RTP import PayloadType, TransmitType
from sip.harness import free_udp_range

from callcenter.sip import rtcp
from callcenter.sip import rtp as rtp_module
from callcenter.sip.rtp import MEDIA_DROPS, MEDIA_QUALITY, HardenedRTPClient
from callcenter.web.media_metrics import MediaQualityCollector, MediaTrustCollector
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(60)
HOST = "127.0.0.1"
STRANGER = "127.0.0.2"
CODECS = {8: PayloadType.PCMA, 101: PayloadType.EVENT}


def udp(address: str, port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    sock.settimeout(5)
    return sock


@pytest.fixture
def far_end() -> Iterator[tuple[socket.socket, socket.socket]]:
    """The phone: RTP on an even port, RTCP on the next."""
    low, _ = free_udp_range(2)
    media, control = udp(HOST, low), udp(HOST, low + 1)
    yield media, control
    media.close()
    control.close()


@pytest.fixture
def call(far_end: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch) -> Iterator[HardenedRTPClient]:
    monkeypatch.setattr(rtp_module, "RTCP_INTERVAL", 0.4)  # reports every 0.2-0.6 s instead of 2.5-7.5 s
    low, _ = free_udp_range(2)
    media, _ = far_end
    client = HardenedRTPClient(CODECS, HOST, low, HOST, media.getsockname()[1], TransmitType.SENDRECV)
    client.start()
    yield client
    client.stop()


def rtp(sequence: int, timestamp: int, ssrc: int = 0xFACE) -> bytes:
    return struct.pack("!BBHII", 0x80, 8, sequence, timestamp, ssrc) + b"\xd5" * 160


def next_report(control: socket.socket, kind: int) -> rtcp.Received:
    """The next compound packet from the call whose first report is ``kind`` (SR or RR), parsed as the
    far end (whose SSRC is 0xFACE) reads it."""
    while True:
        data, _ = control.recvfrom(2048)
        assert data[1] in (rtcp.SR, rtcp.RR) and b"995@127.0.0.1" in data  # SDES CNAME follows the report
        if data[1] == kind:
            return rtcp.parse(data, 0xFACE)


def test_reports_go_to_rtcp_port_and_the_far_ends_report_is_read_strangers_dropped(
        call: HardenedRTPClient, far_end: tuple[socket.socket, socket.socket]) -> None:
    media, control = far_end
    assert call.rtcp_sock is not None and call.rtcp_sock.getsockname() == (HOST, call.inPort + 1)
    # 20 packets from the phone, 5 and 6 lost on the way.
    for n in [*range(5), *range(7, 22)]:
        media.sendto(rtp(1000 + n, 160 * n), (HOST, call.inPort))
    wait_for(lambda: call.received == 20, 5, "the phone's RTP")
    report = next_report(control, rtcp.SR)  # we send RTP: a sender report
    assert report.ssrc == call.outSSRC
    # Our report block on the phone's stream: parsed with the phone's SSRC as "ours".
    blocks = rtcp.parse(_sr_with_block(call, control), 0xFACE).report
    assert blocks is not None and blocks.cumulative_lost == 2
    quality = call.quality()
    assert (quality.received.received, quality.received.expected, quality.received.lost) == (20, 22, 2)

    # The phone reports on our stream: 10% lost lately, 3 in all, jitter 40 timestamp units (5 ms).
    theirs = _receiver_report(0xFACE, call.outSSRC, fraction=26, lost=3, jitter=40)
    stranger = udp(STRANGER)
    forged = _receiver_report(0xBAD, call.outSSRC, fraction=255, lost=9999, jitter=8000)
    before = MEDIA_DROPS.snapshot().rtcp_foreign
    stranger.sendto(forged, (HOST, call.inPort + 1))
    wait_for(lambda: call.rtcp_foreign == 1, 5, "the stranger's RTCP to be dropped")
    assert call.far_end is None and MEDIA_DROPS.snapshot().rtcp_foreign == before + 1
    control.sendto(theirs, (HOST, call.inPort + 1))
    wait_for(lambda: call.far_end is not None, 5, "the phone's RR")
    assert call.far_end == rtcp.FarEndReport(26 / 256, 3, 5.0)
    stranger.close()


def test_held_calls_send_receiver_reports_only_and_resume_with_the_marker(
        call: HardenedRTPClient, far_end: tuple[socket.socket, socket.socket]) -> None:
    media, control = far_end
    first, _ = media.recvfrom(2048)
    assert first[1] == 0x80 | 8  # the first packet of the call starts a talk-spurt
    second, _ = media.recvfrom(2048)
    assert second[1] == 8
    call.set_direction(TransmitType.SENDONLY)  # the phone holds: it sends, we only receive
    report = next_report(control, rtcp.RR)  # RTCP goes on (RFC 3264 5.1), as receiver reports
    assert report.ssrc == call.outSSRC
    media.settimeout(0.1)
    with pytest.raises(TimeoutError):  # drain what was in flight; then nothing comes while held
        while True:
            media.recvfrom(2048)
    sent = call.sent_packets
    next_report(control, rtcp.RR)  # one more report interval held: still no RTP
    assert call.sent_packets == sent
    call.set_direction(TransmitType.SENDRECV)
    media.settimeout(5)
    resumed, _ = media.recvfrom(2048)
    assert resumed[1] == 0x80 | 8
    assert struct.unpack("!H", resumed[2:4])[0] == (struct.unpack("!H", second[2:4])[0] + sent - 1) & 0xFFFF


def test_ended_calls_quality_reaches_the_metrics(far_end: tuple[socket.socket, socket.socket]) -> None:
    media, _ = far_end
    low, _ = free_udp_range(2)
    client = HardenedRTPClient(CODECS, HOST, low, HOST, media.getsockname()[1], TransmitType.SENDRECV)
    client.start()
    for n in (0, 1, 3):  # one of four lost
        media.sendto(rtp(n, 160 * n), (HOST, client.inPort))
    wait_for(lambda: client.received == 3, 5, "the phone's RTP")
    before = MEDIA_QUALITY.snapshot()
    client.stop()
    MEDIA_QUALITY.record(client.quality())  # what the call does when it ends (HardenedCall._record_quality)
    after = MEDIA_QUALITY.snapshot()
    assert (after.calls - before.calls, after.expected - before.expected, after.lost - before.lost) == (1, 4, 1)
    registry = CollectorRegistry()
    registry.register(MediaQualityCollector(MEDIA_QUALITY.snapshot))
    registry.register(MediaTrustCollector(MEDIA_DROPS.snapshot))
    text = generate_latest(registry).decode()
    assert f"callcenter_rtp_packets_lost_total {float(after.lost)}" in text
    assert 'callcenter_rtp_untrusted_packets_total{reason="rtcp_foreign_source"}' in text


def _receiver_report(sender: int, about: int, fraction: int, lost: int, jitter: int) -> bytes:
    block = rtcp.REPORT_BLOCK.pack(about, fraction, lost.to_bytes(3, "big"), 500, jitter, 0, 0)
    return struct.pack("!BBHI", 0x81, rtcp.RR, 7, sender) + block


def _sr_with_block(call: HardenedRTPClient, control: socket.socket) -> bytes:
    """The next SR that carries a report block (the first may come before any RTP was received)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        data, _ = control.recvfrom(2048)
        if data[1] == rtcp.SR and data[0] & 0x1F:
            return data
    raise AssertionError("no SR with a report block")

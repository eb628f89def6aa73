"""RTP counts only from the address and port the far end's SDP named (issue #19, "Media"): a stranger's
forged key press is dropped, counted and logged; what reached a port before the call was set up is
discarded. The same rules against real Kamailio and sipp: tests/integration/sip/test_rtp_source_trust.py.
"""

from __future__ import annotations

import logging
import socket
import threading
from types import SimpleNamespace

import pytest
from pyVoIP.RTP import PayloadType, TransmitType

from callcenter.sip import rtp as rtp_module
from callcenter.sip.rtp import MEDIA_DROPS, HardenedRTPClient, discard_waiting, open_rtp_socket

PHONE = ("127.0.0.1", 4000)  # the far end's c= and m= lines


def key(digit: int, sequence: int = 1) -> bytes:
    """The first packet of an RFC 2833 key press (marker bit set: the one pyVoIP reports)."""
    return bytes([0x80, 0x80 | 101]) + sequence.to_bytes(2, "big") + (160 * sequence).to_bytes(4, "big") \
        + (0xBEEF).to_bytes(4, "big") + bytes([digit, 0x0A, 0, 160])


def client_for(address: tuple[str, int], digits: list[str], port: int = 0) -> HardenedRTPClient:
    return HardenedRTPClient({0: PayloadType.PCMU, 101: PayloadType.EVENT}, "127.0.0.1", port, address[0],
                             address[1], TransmitType.SENDRECV, dtmf=digits.append)


@pytest.mark.parametrize("stranger", [("127.0.0.2", 4000), ("127.0.0.1", 4002), ("10.0.0.1", 4000)])
def test_a_key_from_anywhere_but_the_sdp_address_and_port_is_dropped_and_counted(
        stranger: tuple[str, int]) -> None:
    digits: list[str] = []
    client = client_for(PHONE, digits)
    before = MEDIA_DROPS.foreign
    client._accept(key(1), stranger)
    assert digits == [] and client.foreign == 1 and client.received == 0
    assert MEDIA_DROPS.foreign == before + 1
    client._accept(key(1, 2), PHONE)
    assert digits == ["1"] and client.received == 1


def test_the_first_packet_does_not_make_its_sender_trusted() -> None:
    """The old rule latched on the first good packet: a stranger first in was the call's peer."""
    digits: list[str] = []
    client = client_for(PHONE, digits)
    client._accept(key(1), ("127.0.0.2", 30000))
    client._accept(key(1, 2), ("127.0.0.2", 30000))
    assert digits == [] and client.foreign == 2


def test_the_trusted_source_follows_the_sdp_when_a_re_invite_moves_it() -> None:
    digits: list[str] = []
    client = client_for(PHONE, digits)
    client.outIP, client.outPort = "127.0.0.3", 5000  # what HardenedCall.renegotiate sets
    client._accept(key(1), PHONE)
    assert digits == [] and client.foreign == 1
    client._accept(key(2, 2), ("127.0.0.3", 5000))
    assert digits == ["2"]


def test_an_sdp_naming_0_0_0_0_trusts_nobody_and_is_sent_nothing() -> None:
    digits: list[str] = []
    client = client_for(("0.0.0.0", 4000), digits)
    for source in (("0.0.0.0", 4000), ("127.0.0.1", 4000)):
        client._accept(key(1), source)
    assert digits == [] and client.foreign == 2
    sent: list[object] = []
    client.sout = SimpleNamespace(sendto=lambda data, address: sent.append(address))  # type: ignore[assignment]
    client.send_frame()
    assert sent == []


def test_strangers_are_logged_once_per_period_per_call(monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    monkeypatch.setattr(rtp_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    client = client_for(PHONE, [])
    with caplog.at_level(logging.WARNING, logger="callcenter.sip.rtp"):
        for _ in range(500):
            client._accept(key(1), ("127.0.0.2", 4000))
        now[0] += rtp_module.FOREIGN_LOG_SECONDS
        client._accept(key(1), ("127.0.0.2", 4000))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "127.0.0.2:4000" in lines[0] and "127.0.0.1:4000" in lines[0] and "(1 from strangers" in lines[0]
    assert "(501 from strangers" in lines[1]


def test_what_waits_at_a_pre_bound_port_is_discarded_when_the_call_starts() -> None:
    """An alert call's port is bound before its INVITE leaves: a key the far end's own address sent
    before the answer was known never counts; one sent afterwards does."""
    digits: list[str] = []
    heard = threading.Event()
    sock = open_rtp_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
        phone.bind(("127.0.0.1", 0))
        client = HardenedRTPClient({0: PayloadType.PCMU, 101: PayloadType.EVENT}, "127.0.0.1", port,
                                   *phone.getsockname(), TransmitType.SENDRECV,
                                   dtmf=lambda digit: (digits.append(digit), heard.set()), sock=sock)
        for sequence in range(1, 6):  # loopback: in the socket's buffer when sendto returns
            phone.sendto(key(1, sequence), ("127.0.0.1", port))
        early_before = MEDIA_DROPS.early
        client.start()
        try:
            assert client.early == 5 and MEDIA_DROPS.early == early_before + 5
            phone.sendto(key(3, 6), ("127.0.0.1", port))
            assert heard.wait(5)  # read by the process's RTP receiver thread
            assert digits == ["3"]
        finally:
            client.stop()


def test_discarding_is_bounded_and_stops_when_the_socket_is_empty() -> None:
    sock = open_rtp_socket("127.0.0.1", 0)
    with sock, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for _ in range(3):
            sender.sendto(b"x" * 20, sock.getsockname())
        assert discard_waiting(sock, 2) == 2
        assert discard_waiting(sock, 100) == 1
        assert discard_waiting(sock, 100) == 0

"""The SIP receive loop handles a burst of waiting datagrams new calls first."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from callcenter.sip.client import RECEIVE_BURST, Datagram, HardenedSIPClient, invites_first

SOURCE = ("127.0.0.1", 5060)


def _datagram(first_line: str) -> Datagram:
    return f"{first_line}\r\nCall-ID: x\r\n\r\n".encode(), SOURCE


def test_invites_move_ahead_of_replies_and_each_kind_keeps_its_order() -> None:
    burst = [_datagram("SIP/2.0 180 Ringing"), _datagram("INVITE sip:995@a SIP/2.0"),
             _datagram("SIP/2.0 200 OK"), _datagram("BYE sip:995@a SIP/2.0"), _datagram("INVITE sip:995@b SIP/2.0")]
    assert [d[0].split(b"\r\n")[0] for d in invites_first(burst)] == [
        b"INVITE sip:995@a SIP/2.0", b"INVITE sip:995@b SIP/2.0", b"SIP/2.0 180 Ringing", b"SIP/2.0 200 OK",
        b"BYE sip:995@a SIP/2.0"]


def test_a_method_that_only_starts_like_invite_does_not_move() -> None:
    burst = [_datagram("SIP/2.0 100 Trying"), _datagram("INVITEX sip:995@a SIP/2.0")]
    assert invites_first(burst) == burst


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    receiver, sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET,
                                                                                     socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))  # blocking, as the client's own socket
    yield receiver, sender
    receiver.close()
    sender.close()


def test_a_burst_reads_what_waits_without_blocking_and_at_most_the_limit(
        sockets: tuple[socket.socket, socket.socket]) -> None:
    receiver, sender = sockets
    client = HardenedSIPClient.__new__(HardenedSIPClient)  # only the socket is needed to read
    client.s = receiver
    for n in range(RECEIVE_BURST + 3):
        sender.sendto(f"SIP/2.0 180 Ringing {n}".encode(), receiver.getsockname())
    bursts: list[list[Datagram]] = []
    reader = threading.Thread(target=lambda: bursts.extend([client._read_burst(), client._read_burst()]),
                              daemon=True)
    reader.start()
    reader.join(timeout=5)  # a read that waited for more than what was there would never end
    assert [len(burst) for burst in bursts] == [RECEIVE_BURST, 3]
    assert [raw for raw, _ in bursts[0]] == [f"SIP/2.0 180 Ringing {n}".encode() for n in range(RECEIVE_BURST)]

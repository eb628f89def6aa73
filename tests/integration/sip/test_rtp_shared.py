"""RTP of every call through one receiver and one transmitter thread, on loopback sockets."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest
from pyVoIP.RTP import PayloadType, TransmitType

from callcenter.sip.rtp import HardenedRTPClient
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(60)
HOST = "127.0.0.1"
CODECS = {0: PayloadType.PCMU, 101: PayloadType.EVENT}


def _rtp_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name in ("RTP receiver", "RTP transmitter")]


@pytest.fixture
def far_end() -> Iterator[socket.socket]:
    """The other side of the calls: one socket every call sends to."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(5)
        yield sock


def _client(far_end: socket.socket, digits: list[str]) -> HardenedRTPClient:
    client = HardenedRTPClient(CODECS, HOST, 0, HOST, far_end.getsockname()[1], TransmitType.SENDRECV,
                               dtmf=digits.append)
    client.start()
    client.inPort = client.sin.getsockname()[1]
    return client


def _received(far_end: socket.socket, count: int) -> list[tuple[int, int, int, bytes]]:
    """(source port, sequence, SSRC, payload) of ``count`` packets."""
    packets = []
    for _ in range(count):
        data, (_, port) = far_end.recvfrom(2048)
        _, _, sequence, _, ssrc = struct.unpack("!BBHII", data[:12])
        packets.append((port, sequence, ssrc, data[12:]))
    return packets


def test_many_calls_share_one_receiver_and_one_transmitter_and_end_with_the_last(far_end: socket.socket) -> None:
    digits: list[list[str]] = [[] for _ in range(5)]
    clients = [_client(far_end, d) for d in digits]
    try:
        assert sorted(_rtp_threads()) == ["RTP receiver", "RTP transmitter"]
        clients[0].pmout.write(0, b"\x01" * 160)  # one frame of audio queued on the first call
        by_call: dict[int, list[tuple[int, bytes]]] = {}
        for port, sequence, _, payload in _received(far_end, 5 * 20):
            by_call.setdefault(port, []).append((sequence, payload))
        assert sorted(by_call) == sorted(c.inPort for c in clients)  # every call sends
        for frames in by_call.values():
            sequences = [s for s, _ in frames]
            assert sequences == [(sequences[0] + n) & 0xFFFF for n in range(len(sequences))]
            assert {len(p) for _, p in frames} == {160}
        assert any(p != b"\xff" * 160 for _, p in by_call[clients[0].inPort])  # the queued frame, encoded
        phone = far_end  # key "7" pressed on call 3 only, from the address and port its SDP named
        for n in range(3):  # the first packet of the event carries the marker bit
            marker = 0x80 if n == 0 else 0
            phone.sendto(bytes([0x80, marker | 101]) + n.to_bytes(2, "big") + bytes(8) + bytes([7, 0x80, 0, 160]),
                         (HOST, clients[2].inPort))
        wait_for(lambda: digits[2], 5, "the key on call 3")
        assert digits[2] == ["7"] and not any(digits[:2] + digits[3:])
    finally:
        for client in clients:
            client.stop()
            client.stop()  # a second stop (pyVoIP's hang-up paths stop twice) is harmless
    wait_for(lambda: not _rtp_threads(), 5, "the RTP threads to end with the last call")


def test_a_call_stopped_while_others_go_on_and_a_new_call_after_all_ended(far_end: socket.socket) -> None:
    first, second = _client(far_end, []), _client(far_end, [])
    first.stop()
    ports = {port for port, *_ in _received(far_end, 20)}
    assert second.inPort in ports
    second.stop()
    wait_for(lambda: not _rtp_threads(), 5, "the RTP threads to end")
    while True:  # what was in flight before the stop
        far_end.settimeout(0.5)
        try:
            far_end.recvfrom(2048)
        except TimeoutError:
            break
    third = _client(far_end, [])
    try:
        far_end.settimeout(5)
        assert {port for port, *_ in _received(far_end, 5)} == {third.inPort}
    finally:
        third.stop()


def test_two_threads_stopping_the_same_calls_at_once_both_return(far_end: socket.socket) -> None:
    """A hang-up and the phone's stop can race on one call's media."""
    clients = [_client(far_end, []) for _ in range(20)]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def stop_all() -> None:
        start.wait()
        for client in clients:
            try:
                client.stop()
            except BaseException as exc:  # collected for the assertion
                errors.append(exc)

    threads = [threading.Thread(target=stop_all) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == [] and all(c.sin.fileno() == -1 for c in clients)
    wait_for(lambda: not _rtp_threads(), 5, "the RTP threads to end")


def test_a_call_whose_packets_break_the_reader_does_not_deafen_the_others(far_end: socket.socket) -> None:
    healthy_digits: list[str] = []
    broken, healthy = _client(far_end, []), _client(far_end, healthy_digits)
    exploded = threading.Event()

    def explode(packet: bytes, source: tuple[str, int] | None = None) -> None:
        exploded.set()
        raise RuntimeError("a fault while handling one call's packet")

    broken._accept = explode  # type: ignore[method-assign]
    try:
        phone = far_end  # both calls' SDP named it
        phone.sendto(b"\x80\x00" + bytes(170), (HOST, broken.inPort))
        assert exploded.wait(5), "the broken call's packet was never read"
        for n in range(3):
            marker = 0x80 if n == 0 else 0
            phone.sendto(bytes([0x80, marker | 101]) + n.to_bytes(2, "big") + bytes(8) + bytes([5, 0x80, 0, 160]),
                         (HOST, healthy.inPort))
        wait_for(lambda: healthy_digits, 5, "the key on the healthy call")
        assert healthy_digits == ["5"]
    finally:
        broken.stop()
        healthy.stop()

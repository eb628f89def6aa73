"""Floods and garbage during a household's live call: thousands of OPTIONS, NOTIFY and REGISTER at the
service's SIP socket; garbage, tiny, huge and foreign RTP into the call's RTP port. The service answers
or drops, stays registered, the call keeps its audio and still hears the household's key.
"""

from __future__ import annotations

import gc
import os
import random
import socket
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from conftest import HOUSEHOLD
from hostile_support import HOST, Hostile, heard, hostile_service, live_household, rss_kib, status_code, wait_live
from sip.harness import Kamailio

from callcenter.sip.rtp import HardenedRTPClient

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]
FLOOD = {"OPTIONS": 3000, "NOTIFY": 3000, "REGISTER": 2000}
EXPECTED = {"OPTIONS": 200, "NOTIFY": 200, "REGISTER": 405}


def flood_request(method: str, port: int, local: int) -> bytes:
    extra = "Event: keep-alive\r\nSubscription-State: active\r\n" if method == "NOTIFY" else ""
    return (
        f"{method} sip:995@{HOST}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {HOST}:{local};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
        f"From: <sip:flood@{HOST}>;tag={uuid.uuid4().hex[:8]}\r\nTo: <sip:995@{HOST}>\r\n"
        f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
    ).encode()


def flood(hostile: Hostile) -> Counter[tuple[str, int]]:
    """Every method's flood, interleaved, paced in bursts; answers counted per (method, code)."""
    answers: Counter[tuple[str, int]] = Counter()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.setblocking(False)
        local = sock.getsockname()[1]
        order = [m for m, n in FLOOD.items() for _ in range(n)]
        random.Random(7).shuffle(order)
        for n, method in enumerate(order):
            sock.sendto(flood_request(method, hostile.port, local), (HOST, hostile.port))
            if n % 25 == 24:
                time.sleep(0.01)
                _drain(sock, answers)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            time.sleep(0.1)
            _drain(sock, answers)
    return answers


def _drain(sock: socket.socket, answers: Counter[tuple[str, int]]) -> None:
    while True:
        try:
            data = sock.recv(65535)
        except (BlockingIOError, ConnectionRefusedError):
            return
        method = data.split(b"\r\nCSeq: ", 1)[-1].split(b"\r\n", 1)[0].split(b" ")[-1].decode(errors="replace")
        answers[(method, status_code(data))] += 1


def test_options_notify_register_floods_during_a_live_call(kamailio: Kamailio, sipp_dir: Path) -> None:
    with hostile_service(kamailio) as hostile:
        live = live_household(sipp_dir, kamailio, hold_ms=30000).start()
        assert wait_live(hostile), live.errors()
        live_calls = hostile.live_calls()
        gc.collect()
        rss_before, heard_before = rss_kib(), heard(live_calls)
        answers = flood(hostile)
        gc.collect()
        for method, count in FLOOD.items():  # answered (a datagram may be dropped, never a wrong answer)
            assert answers[(method, EXPECTED[method])] >= 0.9 * count, answers
        assert {code for _, code in answers} <= set(EXPECTED.values()), answers
        assert rss_kib() - rss_before < 20 * 1024
        assert hostile.healthy() == []
        assert hostile.live_calls() == live_calls and heard(live_calls) > heard_before + 50
        assert live.wait(timeout=60) == 0, live.errors()
        assert [d for n, d in hostile.digits if n == HOUSEHOLD] == ["1"]


def rtp(payload_type: int, ssrc: int, payload: bytes, sequence: int = 1) -> bytes:
    return bytes([0x80, payload_type]) + sequence.to_bytes(2, "big") + (160 * sequence).to_bytes(4, "big") \
        + ssrc.to_bytes(4, "big") + payload


def garbage(rng: random.Random) -> list[bytes]:
    """0, 1 and 11 bytes, random payload types (101 included: fake key presses), wrong SSRC, huge packets,
    random bytes, a version-0 header, padding and extension bits with nothing behind them."""
    packets = [b"", b"\x80", b"\x80" * 11, os.urandom(12), b"\x00" * 172, b"\xa0\x00" + b"\x00" * 10,
               b"\x90\x00" + b"\x00" * 10 + b"\xff\xff", os.urandom(8000), os.urandom(60000)]
    for _ in range(300):
        pt = rng.choice((0, 8, 101, 13, 18, 96, 127, rng.randrange(128)))
        payload = os.urandom(rng.choice((0, 1, 4, 160, 1400)))
        packets.append(rtp(pt | rng.choice((0, 0x80)), rng.getrandbits(32), payload, sequence=rng.randrange(65536)))
    packets += [rtp(101, 0xDEAD, bytes([1, 0x80, 0, 160]), n) for n in range(5)]  # key "1", key up, wrong SSRC
    return packets


def test_garbage_rtp_into_a_live_call(kamailio: Kamailio, sipp_dir: Path) -> None:
    with hostile_service(kamailio) as hostile:
        live = live_household(sipp_dir, kamailio, hold_ms=6000).start()
        assert wait_live(hostile), live.errors()
        call = hostile.live_calls()[0]
        client = next(c for c in call.RTPClients if isinstance(c, HardenedRTPClient))
        heard_before = heard([call])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as attacker:
            for packet in garbage(random.Random(11)):
                attacker.sendto(packet, (HOST, client.inPort))
                time.sleep(0.001)  # a burst would overflow the socket's buffer: the kernel, not we, would drop them
        time.sleep(1)
        assert client.foreign > 100 and client.dropped >= 3  # from a stranger: dropped; tiny: dropped
        assert heard([call]) > heard_before + 20  # the household's audio still arrives
        assert live.wait(timeout=30) == 0, live.errors()
        assert [d for n, d in hostile.digits if n == HOUSEHOLD] == ["1"]  # the real key, no injected one
        assert hostile.healthy() == []


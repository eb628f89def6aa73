"""10,000 seeded mutated SIP messages (tests/sip/fuzz.py) at the running service while a household's
call is live: no crash, no error logged, registration kept, the live call unaffected, memory bounded,
and a normal key press afterwards still opens its incident.
"""

from __future__ import annotations

import gc
import socket
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import HOUSEHOLD, household, wait_until
from hostile_support import HOST, Hostile, heard, hostile_service, live_household, rss_kib, status_code, wait_live
from sip.fuzz import SipFuzzer
from sip.harness import Kamailio

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]
SEED = 4475
MESSAGES = 10_000
RSS_GROWTH_LIMIT_KIB = 20 * 1024
BURST, PAUSE = 25, 0.01  # at most ~2,500 datagrams/s: the kernel's UDP buffer is not the thing under test


def fuzz(hostile: Hostile, seed: int, count: int) -> Counter[int]:
    """Send ``count`` mutated messages; return the status codes of what came back."""
    codes: Counter[int] = Counter()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.setblocking(False)
        fuzzer = SipFuzzer(seed, HOST, hostile.port, sock.getsockname()[1])
        for n, datagram in enumerate(fuzzer.messages(count)):
            sock.sendto(datagram, (HOST, hostile.port))
            if n % BURST == BURST - 1:
                time.sleep(PAUSE)
                _drain(sock, codes)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            time.sleep(0.1)
            _drain(sock, codes)
    return codes


def _drain(sock: socket.socket, codes: Counter[int]) -> None:
    while True:
        try:
            codes[status_code(sock.recv(65535))] += 1
        except (BlockingIOError, ConnectionRefusedError):
            return


def test_ten_thousand_mutated_messages_during_a_live_call(kamailio: Kamailio, sipp_dir: Path) -> None:
    with hostile_service(kamailio) as hostile:
        live = live_household(sipp_dir, kamailio, hold_ms=45000).start()
        assert wait_live(hostile), live.errors()
        live_calls = hostile.live_calls()
        fuzz(hostile, SEED + 1, 500)  # warm-up: first-use allocations are not growth
        gc.collect()
        rss_before, heard_before = rss_kib(), heard(live_calls)
        codes = fuzz(hostile, SEED, MESSAGES)
        gc.collect()
        rss_after = rss_kib()
        assert hostile.healthy() == []
        assert codes[500] == 0 and sum(codes[c] for c in (400, 200)) > 1000, codes
        assert hostile.service.phone.sip.malformed > 1000
        assert rss_after - rss_before < RSS_GROWTH_LIMIT_KIB, (rss_before, rss_after)
        assert hostile.live_calls() == live_calls
        assert heard(live_calls) > heard_before + 50
        assert live.wait(timeout=60) == 0, live.errors()
        assert (HOUSEHOLD, "1") in hostile.digits
        before = hostile.emergencies.count(HOUSEHOLD)
        assert wait_until(lambda: not [c for c in hostile.service.phone.calls.values() if c.number != HOUSEHOLD], 10)
        assert household(sipp_dir, kamailio, extra=["-recv_timeout", "5000"]).run(timeout=30) == 0
        assert wait_until(lambda: hostile.emergencies.count(HOUSEHOLD) == before + 1, 5)
        assert hostile.healthy() == []

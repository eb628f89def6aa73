"""RFC 4475-style torture messages (tests/sip/torture.py) at the running service, straight to its SIP
socket and through Kamailio, while a household's call is live.

Each message gets the answer its case names (200/4xx, or none); the service never answers 5xx,
never dies, stays registered, opens an incident for every INVITE it can read (and for no other),
and the live call still hears its audio and the household's key and hang-up.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest
from conftest import HOUSEHOLD, household, wait_until
from hostile_support import (
    HOST,
    Hostile,
    exchange,
    hang_up,
    heard,
    hostile_service,
    live_household,
    status_code,
    wait_live,
)
from sip.harness import Kamailio
from sip.torture import CASES, Case

from callcenter.sip.handlers import hold_line

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]
OURS = (b"Warning: 399 callcenter", b"User-Agent: pyVoIP", b"Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, NOTIFY")


def listen(sock: socket.socket, seconds: float) -> list[bytes]:
    heard_: list[bytes] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            heard_.append(sock.recv(65535))
        except TimeoutError:
            break
    return heard_


def caller(case: Case) -> str:
    found = re.search(r"^from\s*:[^\n]*?sip:(\d+)@", case.text, re.IGNORECASE | re.MULTILINE)
    return found.group(1) if found else ""


def final(replies: list[bytes]) -> bytes | None:
    return next((r for r in replies if status_code(r) >= 200), None)


def send_direct(hostile: Hostile, case: Case, sock: socket.socket) -> str | None:
    """The case straight at the service's socket: None when it got the answer it should."""
    local = sock.getsockname()[1]
    replies = exchange(sock, case.render(hostile.port, local), (HOST, hostile.port), 1.5 if case.expected else 0.3)
    answer = final(replies)
    got = status_code(answer) if answer else None
    if answer is not None and got == 200 and b"INVITE" in answer.split(b"\r\nCSeq:")[1][:40]:
        hang_up(hostile.port, answer)
    if got != case.expected:
        return f"{case.name} ({case.section}): expected {case.expected}, got {got}: {answer!r:.300}"
    return None


def send_via_kamailio(hostile: Hostile, kamailio: Kamailio, case: Case, sock: socket.socket) -> str | None:
    """The case through the registrar: our own answers are never 5xx (Kamailio's may be)."""
    local = sock.getsockname()[1]
    datagram = case.render(kamailio.port, local)
    replies = exchange(sock, datagram, (HOST, kamailio.port), 0.4)
    for reply in replies:
        if status_code(reply) == 200 and b" INVITE\r\n" in reply:
            hang_up(hostile.port, reply)
        if status_code(reply) >= 500 and any(mark in reply for mark in OURS):
            return f"{case.name} via Kamailio: our {status_code(reply)}: {reply!r:.300}"
    return None


def test_torture_messages_get_their_answers_and_hurt_nothing(kamailio: Kamailio, sipp_dir: Path) -> None:
    with hostile_service(kamailio) as hostile:
        live = live_household(sipp_dir, kamailio, hold_ms=40000).start()
        assert wait_live(hostile), live.errors()
        live_calls = hostile.live_calls()
        heard_before = heard(live_calls)
        wrong: list[str] = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((HOST, 0))
            for case in CASES:
                wrong += filter(None, [send_direct(hostile, case, sock)])
            direct_emergencies = set(hostile.emergencies)
            for case in CASES:
                wrong += filter(None, [send_via_kamailio(hostile, kamailio, case, sock)])
        assert wrong == [], "\n".join(w[:160] for w in wrong)
        assert hostile.healthy() == []
        assert hostile.live_calls() == live_calls  # still up
        assert heard(live_calls) > heard_before + 50  # and still hearing its audio
        assert live.wait(timeout=60) == 0, live.errors()  # key 1, BYE answered 200
        assert (HOUSEHOLD, "1") in hostile.digits
        readable_invites = {caller(case) for case in CASES if case.emergency}
        assert direct_emergencies == readable_invites | {HOUSEHOLD}
        # Kamailio forwards some broken INVITEs repaired (e.g. LWS in the URI): those are key presses too.
        assert set(hostile.emergencies) <= {caller(case) for case in CASES if "INVITE" in case.text} | {HOUSEHOLD}
        # A normal key press afterwards still reaches the service through Kamailio.
        before = hostile.emergencies.count(HOUSEHOLD)
        assert household(sipp_dir, kamailio, extra=["-recv_timeout", "5000"]).run(timeout=30) == 0
        assert wait_until(lambda: hostile.emergencies.count(HOUSEHOLD) == before + 1, 5)
        assert hostile.healthy() == []


@pytest.mark.parametrize("case", [c for c in CASES if c.emergency], ids=lambda c: c.name)
def test_every_readable_invite_opens_the_incident(kamailio: Kamailio, case: Case) -> None:
    """One by one, so a failure names the message (the barrage above checks them all together)."""
    with hostile_service(kamailio, rtp_ports=4) as hostile, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        assert send_direct(hostile, case, sock) is None
        assert wait_until(lambda: caller(case) in hostile.emergencies, 5)
        assert hostile.healthy() == []


def test_an_answered_invite_never_acked_is_re_answered_then_hung_up(kamailio: Kamailio,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A forged or lost-caller INVITE: our 200 is re-sent until the ACK timeout, then we hang up (BYE)
    and the RTP port is free again, instead of a ghost call holding it."""
    monkeypatch.setattr("callcenter.sip.phone.ACK_TIMEOUT", 2.0)
    case = next(c for c in CASES if c.name == "baddate")
    with hostile_service(kamailio, rtp_ports=4) as hostile, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        hostile.service.inbound_handler = hold_line  # the IVR holds the line: only the missing ACK ends it
        replies = exchange(sock, case.render(hostile.port, sock.getsockname()[1]), (HOST, hostile.port), 1.5)
        assert [status_code(r) for r in replies][-1] == 200
        later = listen(sock, 4.0)
        assert sum(status_code(r) == 200 for r in later) >= 2  # re-sent while no ACK came
        assert any(r.startswith(b"BYE ") for r in later)  # then hung up, through Kamailio to our Contact
        assert wait_until(lambda: not hostile.service.phone.calls and not hostile.service.phone.assignedPorts, 5)
        assert hostile.healthy() == []


def test_a_re_invite_on_a_live_call_is_answered_without_reopening_its_media(kamailio: Kamailio) -> None:
    case = next(c for c in CASES if c.name == "baddate")
    with hostile_service(kamailio, rtp_ports=4) as hostile, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        hostile.service.inbound_handler = hold_line
        invite = case.render(hostile.port, sock.getsockname()[1])
        assert status_code(exchange(sock, invite, (HOST, hostile.port), 1.5)[-1]) == 200
        call = next(iter(hostile.service.phone.calls.values()))
        port = call.RTPClients[0].inPort
        reinvite = invite.replace(b"CSeq: 1 INVITE", b"CSeq: 2 INVITE").replace(b"m=audio 40000", b"m=audio 40100")
        sock.sendto(reinvite, (HOST, hostile.port))
        answer = next((r for r in listen(sock, 1.5) if b"\r\nCSeq: 2 INVITE\r\n" in r), None)  # not a re-sent 200
        assert answer is not None and status_code(answer) == 200 and f"m=audio {port} ".encode() in answer
        assert call.RTPClients[0].outPort == 40100 and call.state.name == "ANSWERED"
        hang_up(hostile.port, answer)
        assert hostile.healthy() == []

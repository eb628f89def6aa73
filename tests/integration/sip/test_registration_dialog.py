"""Our REGISTERs on the wire (RFC 3261 10.2, issue #23): one Call-ID for the first REGISTER, its
digest retry, every refresh and the final un-REGISTER, with CSeq counting up; ``Allow`` naming
every method the phone answers.

The registrar here is a socket of the test that records each REGISTER, challenges the first one
(401, as the production edge does) and accepts the rest with a 1 s binding, so refreshes come fast.
That Kamailio accepts our REGISTERs is shown by every other SIP test.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator

import pytest
from conftest import wait_until
from sip.harness import free_udp_range

from callcenter.sip import message as sipmsg
from callcenter.sip.phone import HardenedPhone

pytestmark = pytest.mark.timeout(60)
HOST = "127.0.0.1"


class RecordingRegistrar:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.2)
        self.registers: list[str] = []
        self._open = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _run(self) -> None:
        while self._open:
            try:
                data, source = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            text = data.decode()
            if text.startswith("REGISTER "):
                self.registers.append(text)
                self.sock.sendto(self._answer(text).encode(), source)

    def _answer(self, request: str) -> str:
        copied = "".join(line + "\r\n" for line in request.split("\r\n")
                         if line.startswith(("Via:", "From:", "Call-ID:", "CSeq:")))
        to = next(line for line in request.split("\r\n") if line.startswith("To:"))
        if len(self.registers) == 1:
            return ("SIP/2.0 401 Unauthorized\r\n" + copied + f"{to};tag=reg\r\n"
                    'WWW-Authenticate: Digest realm="village", nonce="abc123", algorithm=MD5\r\n'
                    "Content-Length: 0\r\n\r\n")
        return ("SIP/2.0 200 OK\r\n" + copied + f"{to};tag=reg\r\n"
                f"Contact: <sip:995@{HOST}>;expires=1\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self._open = False
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def registrar() -> Iterator[RecordingRegistrar]:
    found = RecordingRegistrar()
    yield found
    found.close()


def header(message: str, name: str) -> str:
    found = re.search(rf"^{name}: *([^\r\n]*)", message, re.MULTILINE)
    assert found, f"no {name} in {message!r}"
    return found.group(1)


def test_refreshes_and_the_un_register_keep_the_call_id_and_count_cseq_up(registrar: RecordingRegistrar) -> None:
    """Before: each REGISTER (refresh, un-REGISTER) had a new Call-ID, so the registrar saw a new
    registration each time."""
    low, high = free_udp_range(4)
    phone = HardenedPhone(HOST, registrar.port, "995", "secret", HOST, None, 0, low, high)
    phone.sip.default_expires = 1  # refreshed at 80%: every 0.8 s
    phone.start()
    try:
        assert phone.wait_registered(5), phone.registration
        assert wait_until(lambda: len(registrar.registers) >= 4, 10)  # challenge, answer, two refreshes
    finally:
        phone.stop()
    assert wait_until(lambda: header(registrar.registers[-1], "Expires") == "0", 5)  # the un-REGISTER
    sent = list(registrar.registers)
    assert {header(r, "Call-ID") for r in sent} == {phone.sip.register_call_id}
    cseqs = [int(header(r, "CSeq").split()[0]) for r in sent]
    assert cseqs == list(range(cseqs[0], cseqs[0] + len(sent)))
    assert {header(r, "CSeq").split()[1] for r in sent} == {"REGISTER"}
    assert "Authorization" in sent[1] and "Authorization" not in sent[0]
    assert {header(r, "Allow") for r in sent} == {sipmsg.ALLOW}


def test_allow_names_every_method_the_phone_answers() -> None:
    """Before: OPTIONS, INFO and NOTIFY were answered but ``Allow`` listed INVITE, ACK, BYE, CANCEL."""
    low, high = free_udp_range(4)
    phone = HardenedPhone(HOST, 5060, "995", "", HOST, None, 0, low, high)
    answered = set(phone.sip._request_handlers())
    assert set(sipmsg.ALLOW.split(", ")) == answered
    assert {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "NOTIFY"} <= answered
    invite = phone.sip.gen_invite("13900000001", "1", {low: {}}, "sendrecv", "z9hG4bKx", "cid")
    assert header(invite, "Allow") == sipmsg.ALLOW

"""Hostile SIP and RTP input, pure: wire.tidy, the tolerant parser, the SDP check, the fuzzer, RTP garbage."""

from __future__ import annotations

import os
import random

import pytest
from pyVoIP.RTP import PayloadType, TransmitType

from callcenter.sip import message as sipmsg
from callcenter.sip import wire
from callcenter.sip.rtp import HardenedRTPClient
from tests.sip.fuzz import SipFuzzer
from tests.sip.torture import CASES, Case

BY_NAME = {case.name: case for case in CASES}


def parsed(case: Case) -> sipmsg.SipMessage:
    return sipmsg.SipMessage(wire.tidy(case.render(5062, 40000)))


def test_compact_folded_and_oddly_spaced_headers_become_what_pyvoip_reads() -> None:
    message = parsed(BY_NAME["wsinv"])
    assert message.method == "INVITE"
    assert message.headers["From"]["number"] == "13800000101"
    assert message.headers["From"]["tag"] == "98asjd8"
    assert message.headers["CSeq"] == {"check": "9", "method": "INVITE"}
    assert message.headers["Call-ID"] == "wsinv.ndaksdj@127.0.0.1"
    assert [via["address"][0] for via in message.headers["Via"]] == [
        "127.0.0.1", "spindle.example.com", "192.168.255.111"]
    assert sipmsg.has_usable_sdp(message)


@pytest.mark.parametrize(("name", "code"), [
    ("clerr", 400), ("ncl", 400), ("scalar02", 400), ("quotbal", 400), ("ltgtruri", 400), ("lwsruri", 400),
    ("lwsstart", 400), ("trws", 400), ("escruri", 400), ("badaspec", 400), ("baddn", 400), ("badvers", 505),
    ("mismatch01", 400), ("mismatch02", 400), ("insuf", 400), ("unkscm", 416), ("novelsc", 416),
    ("multi01", 400), ("mcl01", 400), ("nul-in-header", 400), ("no-blank-line", 400),
    ("scalarlg", 0), ("bigcode", 0),
])
def test_broken_messages_are_refused_with_the_answer_they_deserve(name: str, code: int) -> None:
    with pytest.raises(wire.Malformed) as refused:
        wire.tidy(BY_NAME[name].render(5062, 40000))
    assert refused.value.code == code
    answer = wire.answer(refused.value)
    if code:
        assert answer is not None and answer.startswith(f"SIP/2.0 {code} ".encode())
        assert b"\r\nVia: SIP/2.0/UDP 127.0.0.1:40000" in answer and b'Warning: 399 callcenter "' in answer
    else:
        assert answer is None


def test_a_request_without_via_cannot_be_answered() -> None:
    with pytest.raises(wire.Malformed) as refused:
        wire.tidy(b"OPTIONS sip:995@127.0.0.1 SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n")
    assert refused.value.code == 0 and wire.answer(refused.value) is None


def test_bytes_after_content_length_are_not_a_second_message() -> None:
    tidy = wire.tidy(BY_NAME["dblreq"].render(5062, 40000))
    assert tidy.endswith(b"Content-Length: 0\r\n\r\n") and b"INVITE" not in tidy


def test_a_multipart_body_with_blank_lines_parses_and_is_not_taken_as_sdp() -> None:
    message = parsed(BY_NAME["mpart01"])
    assert message.method == "INVITE" and not sipmsg.has_usable_sdp(message)


@pytest.mark.parametrize("name", ["nosdp-addr", "sdp-port-overflow", "sdp-bad-rtpmap", "invut"])
def test_offers_pyvoip_would_choke_on_are_unusable(name: str) -> None:
    assert not sipmsg.has_usable_sdp(parsed(BY_NAME[name]))


def test_from_and_to_with_other_uri_schemes_parse() -> None:
    assert sipmsg.parse_address("tel:+8613800000001;tag=x") == {
        "raw": "tel:+8613800000001", "tag": "x", "address": "+8613800000001", "number": "+8613800000001",
        "caller": "", "host": "+8613800000001"}
    assert sipmsg.parse_address("<http://www.example.com>")["number"] is None


def test_the_fuzzer_is_deterministic_and_nothing_it_makes_escapes_the_parser() -> None:
    first = list(SipFuzzer(1, "127.0.0.1", 5062, 40000).messages(2000))
    assert first == list(SipFuzzer(1, "127.0.0.1", 5062, 40000).messages(2000))
    outcomes = {"parsed": 0, "refused": 0}
    for raw in first:
        try:
            message = sipmsg.SipMessage(wire.tidy(raw))
            if message.type == 1 and message.method == "INVITE":
                sipmsg.has_usable_sdp(message)
            outcomes["parsed"] += 1
        except wire.Malformed:
            outcomes["refused"] += 1
    assert outcomes["parsed"] > 200 and outcomes["refused"] > 200  # both paths exercised, nothing else raised


def _rtp(payload_type: int, ssrc: int, payload: bytes, sequence: int = 1) -> bytes:
    return bytes([0x80, payload_type]) + sequence.to_bytes(2, "big") + (160 * sequence).to_bytes(4, "big") \
        + ssrc.to_bytes(4, "big") + payload


def test_rtp_garbage_from_the_peer_itself_is_survived_and_strangers_are_ignored() -> None:
    client = HardenedRTPClient({0: PayloadType.PCMU, 101: PayloadType.EVENT}, "127.0.0.1", 0, "127.0.0.1", 4000,
                               TransmitType.SENDRECV, dtmf=lambda digit: digits.append(digit))
    digits: list[str] = []
    peer, stranger, rng = ("127.0.0.1", 4000), ("127.0.0.1", 4002), random.Random(12)
    client._accept(_rtp(0, 1, b"\xff" * 160), peer)
    for packet in [b"", b"\x80", b"\x80" * 11, os.urandom(8192)] + [
        _rtp(rng.randrange(256), rng.getrandbits(32), os.urandom(rng.choice((0, 1, 4, 160)))) for _ in range(300)
    ]:
        client._accept(packet, peer)
    client._accept(_rtp(101, 0xDEAD, bytes([1, 0x80, 0, 160])), stranger)  # a forged key "1"
    client._accept(_rtp(0, 1, b"\x00" * 160, 2), peer)
    assert client.received >= 2 and client.dropped >= 3 and client.foreign == 1
    assert "1" not in digits

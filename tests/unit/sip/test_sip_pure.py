"""Pure parts of the SIP channel: back-off, final-response outcomes, the leg queue, audio FIFO, SDP check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.domain.types import LegStatus
from callcenter.sip.client import contact_uri
from callcenter.sip.message import SipMessage, has_usable_sdp, response
from callcenter.sip.outcomes import final_response_outcome
from callcenter.sip.registration import BACKOFF_MAX, RegistrationStatus, backoff_delay
from callcenter.sip.rtp import AudioFifo

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_backoff_doubles_and_is_capped_never_zero_after_a_failure() -> None:
    delays = [backoff_delay(n) for n in range(1, 12)]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert max(delays) == BACKOFF_MAX and all(d > 0 for d in delays)
    assert backoff_delay(10_000) == BACKOFF_MAX


def test_registration_status_tracks_the_run_of_failures() -> None:
    status = RegistrationStatus().failed(T0, "timeout").failed(T0 + timedelta(seconds=5), "timeout")
    assert (status.registered, status.retrying_since, status.failures) == (False, T0, 2)
    ok = status.succeeded(T0 + timedelta(seconds=9))
    assert ok.registered and ok.retrying_since is None and ok.failures == 0 and ok.last_error == "timeout"


@pytest.mark.parametrize(("code", "status"), [
    (486, LegStatus.BUSY), (600, LegStatus.BUSY), (603, LegStatus.BUSY), (480, LegStatus.NO_ANSWER),
    (408, LegStatus.NO_ANSWER), (487, LegStatus.NO_ANSWER), (404, LegStatus.FAILED), (503, LegStatus.FAILED),
    (0, LegStatus.FAILED),
])
def test_final_response_outcomes(code: int, status: LegStatus) -> None:
    assert final_response_outcome(code) is status


def test_audio_fifo_is_bounded_and_pads_with_silence() -> None:
    fifo = AudioFifo(limit=400)
    for n in range(10):
        fifo.write(n * 160, bytes([n]) * 160)
    assert fifo.pending() == 400
    assert fifo.read(160) == bytes([7]) * 80 + bytes([8]) * 80  # the oldest were dropped
    fifo.clear()
    assert fifo.read(4) == b"\x80" * 4


INVITE = (
    "INVITE sip:995@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx;rport\r\n"
    "From: <sip:13800000001@127.0.0.1>;tag=abc\r\nTo: <sip:995@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 7 INVITE\r\n"
    "Contact: <sip:13800000001@127.0.0.1:5071>\r\nContent-Type: application/sdp\r\nContent-Length: {n}\r\n\r\n{sdp}"
)
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP {pts}\r\n"


@pytest.mark.parametrize(("sdp", "usable"), [
    (SDP.format(pts="0 101"), True), (SDP.format(pts="8"), True), (SDP.format(pts="9 18"), False),
    ("", False), (SDP.format(pts="0").replace("c=IN IP4 127.0.0.1\r\n", ""), False),
])
def test_usable_sdp(sdp: str, usable: bool) -> None:
    message = SipMessage(INVITE.format(n=len(sdp), sdp=sdp).encode())
    assert has_usable_sdp(message) is usable


def test_options_and_notify_parse_and_responses_copy_the_transaction() -> None:
    options = SipMessage(INVITE.format(n=0, sdp="").replace("INVITE", "OPTIONS").encode())
    assert options.method == "OPTIONS"
    text = response(options, 200, "OK", to_tag="t1")
    assert text.startswith("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx;rport\r\n")
    assert "To: <sip:995@127.0.0.1>;tag=t1\r\n" in text and "CSeq: 7 OPTIONS\r\n" in text


@pytest.mark.parametrize(("header", "uri"), [
    ("<sip:a@127.0.0.1:5071;transport=UDP>", "sip:a@127.0.0.1:5071;transport=UDP"),
    ('"Zhang" <sip:a@h>;expires=60', "sip:a@h"), ("sip:a@h:5;x=1", "sip:a@h:5"),
])
def test_contact_uri(header: str, uri: str) -> None:
    assert contact_uri(header) == uri


def test_sip_settings_defaults_and_rtp_range_check() -> None:
    from pydantic import ValidationError

    from callcenter.settings import SipSettings, load_settings

    settings = load_settings()
    assert (settings.sip.extension, settings.sip.ring_timeout, settings.sip.max_channels) == ("995", 30.0, 30)
    assert load_settings(engine={"call_channel": "sip"}).engine.call_channel == "sip"
    with pytest.raises(ValidationError, match="rtp_port_low"):
        SipSettings(rtp_port_low=20000, rtp_port_high=10000)
    with pytest.raises(ValidationError):
        SipSettings(codecs=["G729"])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match=r"sip\.codecs"):
        SipSettings.model_validate({"codec": "PCMU"})  # the old single-codec key is refused, loudly
    assert SipSettings().codecs == ["PCMA", "PCMU"]

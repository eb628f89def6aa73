"""Offer/answer (RFC 3264) and RTCP statistics (RFC 3550 appendix A) as pure rules."""

from __future__ import annotations

import pytest
from pyVoIP.RTP import PayloadType, TransmitType

from callcenter.sip import rtcp, sdp


def test_the_offer_lists_every_codec_in_the_configured_order_then_telephone_event() -> None:
    media = sdp.offer_media(10000, sdp.codec_list(["PCMA", "PCMU", "PCMA"]))
    assert list(media[10000]) == ["8", "0", "101"]
    assert list(sdp.offer_media(10000, sdp.codec_list(["PCMU"]))[10000]) == ["0", "101"]


def test_the_call_sends_with_the_first_g711_codec_never_telephone_event() -> None:
    """pyVoIP took the first payload type listed, so an answer "101 8" made it encode as telephone-event."""
    assert sdp.audio_codec({101: PayloadType.EVENT, 8: PayloadType.PCMA, 0: PayloadType.PCMU}) == PayloadType.PCMA
    with pytest.raises(sdp.NoCommonCodec):
        sdp.audio_codec({101: PayloadType.EVENT})


def test_an_answer_keeps_only_what_we_offered_by_number_or_rtpmap_name() -> None:
    media = {"methods": ["18", "96", "8", "101"], "attributes": {
        "18": {"rtpmap": {"name": "G729"}}, "96": {"rtpmap": {"name": "PCMU"}}, "8": {}, "101": {}}}
    # "101" with no rtpmap is the telephone-event we offered (pyVoIP's int() of it raised)
    assert sdp.answer_assoc(media, [PayloadType.PCMA, PayloadType.PCMU]) == {
        96: PayloadType.PCMU, 8: PayloadType.PCMA, 101: PayloadType.EVENT}
    assert sdp.answer_assoc(media, [PayloadType.PCMA]) == {8: PayloadType.PCMA, 101: PayloadType.EVENT}


@pytest.mark.parametrize(("offered", "answered", "we_send"), [
    (TransmitType.SENDONLY, TransmitType.RECVONLY, False),  # hold
    (TransmitType.INACTIVE, TransmitType.INACTIVE, False),
    (TransmitType.RECVONLY, TransmitType.SENDONLY, True),
    (TransmitType.SENDRECV, TransmitType.SENDRECV, True),
])
def test_directions_per_rfc_3264(offered: TransmitType, answered: TransmitType, we_send: bool) -> None:
    assert sdp.answer_direction(offered) is answered
    assert sdp.we_send(offered) is we_send
    assert sdp.direction_of({"a": {"transmit_type": offered}}) is offered
    assert sdp.direction_of({}) is TransmitType.SENDRECV


def test_rtcp_port_is_rtp_plus_one_unless_the_sdp_says() -> None:
    assert sdp.rtcp_port({}, 4000) == 4001
    assert sdp.rtcp_port({"a": {"rtcp": "5555 IN IP4 10.0.0.1"}}, 4000) == 5555
    assert sdp.rtcp_port({"a": {"rtcp": "junk"}}, 4000) == 4001


def test_a_refused_offer_is_refused_again_for_an_hour_then_tried() -> None:
    refused, codecs = sdp.RefusedOffers(), sdp.codec_list(["PCMA", "PCMU"])
    refused.check("139", codecs, 0.0)  # nothing noted: dialled
    refused.note("139", codecs, 100.0)
    with pytest.raises(sdp.OfferRefused, match="PCMA, PCMU, telephone-event"):
        refused.check("139", codecs, 200.0)
    refused.check("139", sdp.codec_list(["PCMU"]), 200.0)  # a different offer may be tried
    refused.check("138", codecs, 200.0)
    refused.check("139", codecs, 100.0 + sdp.REFUSAL_MEMORY_SECONDS)


def test_loss_counts_across_the_sequence_wrap_and_reordering() -> None:
    stats = rtcp.ReceptionStats()
    for n, seq in enumerate([65533, 65534, 65535, 1, 0, 3]):  # 2 lost, 0 and 1 swapped
        stats.update(7, seq, 160 * n, 0.02 * n)
    snapshot = stats.snapshot()
    assert (snapshot.expected, snapshot.received, snapshot.lost) == (7, 6, 1)
    block = rtcp.REPORT_BLOCK.unpack(stats.report_block(1.0))
    assert block[0] == 7 and int.from_bytes(block[2], "big") == 1 and block[3] == 65536 + 3


def test_jitter_grows_with_uneven_arrival_and_key_events_do_not_count() -> None:
    steady, uneven = rtcp.ReceptionStats(), rtcp.ReceptionStats()
    for n in range(50):
        steady.update(1, n, 160 * n, 0.02 * n)
        uneven.update(1, n, 160 * n, 0.02 * n + (0.01 if n % 2 else 0.0))
    for n in range(50, 60):  # a key held 200 ms: every packet carries the press's start timestamp
        steady.update(1, n, 160 * 50, 0.02 * n, audio=False)
    assert steady.snapshot().jitter_ms == pytest.approx(0.0, abs=1e-6)
    assert 5.0 < uneven.snapshot().jitter_ms < 10.0  # converges to the 10 ms swing


def test_compound_reports_parse_back() -> None:
    sending = rtcp.Sending(ssrc=0xABC, packets=50, octets=8000, rtp_timestamp=1234, wallclock=1.7e9)
    block = rtcp.REPORT_BLOCK.pack(0xFACE, 64, (5).to_bytes(3, "big"), 100, 80, 0, 0)
    sender = rtcp.parse(rtcp.compound(sending, True, [block], "995@127.0.0.1"), 0xFACE)
    assert sender.sender_report and sender.ssrc == 0xABC and sender.ntp_middle == rtcp.ntp_middle(1.7e9)
    assert sender.report == rtcp.FarEndReport(0.25, 5, 10.0)
    receiver = rtcp.parse(rtcp.compound(sending, False, [], "x"), 0xFACE)
    assert not receiver.sender_report and receiver.report is None
    for broken in (b"", b"\x80\xc8\x00\x06", b"\x40\xc9\x00\x01" + bytes(4), b"\x81\xca\x00\x01" + bytes(4)):
        with pytest.raises(rtcp.Malformed):
            rtcp.parse(broken, 0xFACE)

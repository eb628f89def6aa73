"""Codecs and hold against real Kamailio and sipp phones (issue #23).

- An alert call offers PCMA and PCMU (A-law first) and telephone-event: a phone that takes only one of
  them answers with it and hears the prompt encoded with it; a phone that takes neither (488) is not
  redialled with the same offer.
- A neighbour's hold key (RFC 3264 8.4): sendonly answered recvonly, inactive inactive, nothing sent
  while held, the prompt paused and resumed where it was, with the marker bit, at the new address and
  in the new codec of the resuming re-INVITE.

The phones' media go to the test's own sockets ([rtp_sink]), which record every RTP packet.
"""

from __future__ import annotations

import audioop
import math
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import wait_until
from pyVoIP.RTP import PayloadType
from sip.harness import Kamailio, Sipp, free_udp_range, register_contact
from test_sip_service import RecordingSink, order

from callcenter.domain.types import LegStatus
from callcenter.ivr.media import CallEnded, CallMedia, LegDecided
from callcenter.service.ports import LegOrder
from callcenter.settings import SipSettings
from callcenter.sip.service import SipService

pytestmark = pytest.mark.timeout(120)
HOST = "127.0.0.1"
# 4 s of a 440 Hz tone in pyVoIP's 8-bit unsigned linear PCM: what the alert flow would queue.
AUDIO = bytes(128 + int(60 * math.sin(2 * math.pi * 440 * n / 8000)) for n in range(8000 * 4))


def encoded(audio: bytes, codec: PayloadType) -> bytes:
    linear = audioop.bias(audio, 1, -128)
    return audioop.lin2alaw(linear, 1) if codec == PayloadType.PCMA else audioop.lin2ulaw(linear, 1)


@dataclass(frozen=True)
class Packet:
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    payload: bytes


@dataclass
class RtpSink:
    """A phone's media port: records every RTP packet the service sends to it."""

    sock: socket.socket = field(default_factory=lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    packets: list[Packet] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock.bind((HOST, free_udp_range(2)[0]))
        self.sock.settimeout(0.2)
        self._open = True
        threading.Thread(target=self._run, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _run(self) -> None:
        while self._open:
            try:
                data = self.sock.recv(2048)
            except (TimeoutError, OSError):
                continue
            _, second, sequence, timestamp, _ = struct.unpack("!BBHII", data[:12])
            self.packets.append(Packet(second & 0x7F, bool(second & 0x80), sequence, timestamp, data[12:]))

    def audio(self) -> bytes:
        return b"".join(p.payload for p in self.packets)

    def close(self) -> None:
        self._open = False
        self.sock.close()


@pytest.fixture
def sinks() -> Iterator[tuple[RtpSink, RtpSink]]:
    first, second = RtpSink(), RtpSink()
    yield first, second
    first.close()
    second.close()


def speak_until_hung_up(order: LegOrder, media: CallMedia, decided: LegDecided) -> LegStatus:
    """The alert flow's stand-in: queue the prompt, keep the line until the phone hangs up."""
    media.play(AUDIO)
    try:
        while True:
            media.next_digit(1.0)
    except CallEnded:
        return LegStatus.ANSWERED_WITHOUT_KEY


def speak_then_hang_up(order: LegOrder, media: CallMedia, decided: LegDecided) -> LegStatus:
    media.play(AUDIO[:8000])
    wait_until(lambda: not media.is_playing(), 10)
    return LegStatus.ANSWERED_WITHOUT_KEY


def start_service(kamailio: Kamailio, handler: object, **overrides: object) -> tuple[SipService, RecordingSink]:
    low, high = free_udp_range(16)
    settings = SipSettings.model_validate({
        "registrar_port": kamailio.port, "sip_port": 0, "rtp_port_low": low, "rtp_port_high": high,
        "ring_timeout": 10.0, "max_channels": 4, **overrides})
    sip = SipService(settings, on_emergency=lambda caller: None, alert_handler=handler)  # type: ignore[arg-type]
    sink = RecordingSink()
    sip.channel.sink = sink
    sip.start()
    assert sip.phone.wait_registered(5), sip.registration
    return sip, sink


@pytest.mark.parametrize(("scenario", "codec"), [("responder_pcma_only", PayloadType.PCMA),
                                                 ("responder_pcmu_only", PayloadType.PCMU)])
def test_a_phone_taking_one_codec_answers_and_hears_the_prompt_in_it(
        kamailio: Kamailio, sipp_dir: Path, sinks: tuple[RtpSink, RtpSink], scenario: str,
        codec: PayloadType) -> None:
    """Before: the INVITE offered PCMU only (``m=audio … RTP/AVP 0 101``) and a PCMA-only phone answered
    488, redialled every 30 s. Now both are offered, A-law first, and the answer's codec is used."""
    sip, sink = start_service(kamailio, speak_then_hang_up)
    media, _ = sinks
    try:
        phone = Sipp(scenario, sipp_dir, keys={"rtp_sink": str(media.port)}).start()
        register_contact(kamailio.port, "13900000031", phone.port)
        sip.channel.send(order("leg-codec", "13900000031"))
        assert sink.wait_final("inc-1/leg-codec", 30) == LegStatus.ANSWERED_WITHOUT_KEY, sink.outcomes
        assert phone.wait(timeout=20) == 0, phone.errors()
        assert wait_until(lambda: bool(media.packets), 5)
        assert {p.payload_type for p in media.packets} == {int(codec)}
        assert encoded(AUDIO[:8000], codec) in media.audio()  # the prompt, bit-exact in the answer's codec
        assert media.packets[0].marker and not any(p.marker for p in media.packets[1:])
    finally:
        sip.stop()


def test_a_phone_refusing_every_codec_offered_is_not_redialled_with_the_same_offer(
        kamailio: Kamailio, sipp_dir: Path) -> None:
    """The service configured µ-law only meets the A-law-only phone: 488. The leg fails with the reason,
    and the engine's redial of it is failed at once, without ringing the phone again."""
    sip, sink = start_service(kamailio, speak_then_hang_up, codecs=["PCMU"])
    try:
        phone = Sipp("responder_pcma_only", sipp_dir, keys={"rtp_sink": "9"}).start()
        register_contact(kamailio.port, "13900000032", phone.port)
        sip.channel.send(order("leg-488", "13900000032"))
        assert sink.wait_final("inc-1/leg-488", 20) == LegStatus.FAILED
        assert phone.wait(timeout=10) == 0, phone.errors()
        detail = next(d for leg, s, d in sink.outcomes if leg == "inc-1/leg-488" and s is LegStatus.FAILED)
        assert detail.startswith("488 Not Acceptable Here") and "accepts none of the codecs offered (PCMU" in detail
        sip.channel.send(order("leg-488-redial", "13900000032"))
        assert sink.wait_final("inc-1/leg-488-redial", 10) == LegStatus.FAILED
        assert sink.statuses("inc-1/leg-488-redial") == [LegStatus.FAILED]  # never dialled: no DIALING
        assert "refused the same offer (PCMU, telephone-event) with 488" in sink.outcomes[-1][2]
    finally:
        sip.stop()


def test_hold_and_resume_answered_per_rfc_3264_and_no_media_sent_while_held(
        kamailio: Kamailio, sipp_dir: Path, sinks: tuple[RtpSink, RtpSink]) -> None:
    """Before: the sendonly re-INVITE was answered a=sendrecv and 50 packets a second went on."""
    sip, sink = start_service(kamailio, speak_until_hung_up)
    before, after = sinks
    try:
        phone = Sipp("responder_hold_resume", sipp_dir,
                     keys={"rtp_sink": str(before.port), "rtp_sink2": str(after.port)}).start()
        register_contact(kamailio.port, "13900000033", phone.port)
        sip.channel.send(order("leg-hold", "13900000033"))
        assert phone.wait(timeout=30) == 0, phone.errors()  # each answer's direction checked by the phone
        assert sink.wait_final("inc-1/leg-hold", 10) == LegStatus.ANSWERED_WITHOUT_KEY
        assert before.packets and after.packets
        held_from, resumed = before.packets[-1], after.packets[0]
        # Nothing was sent while held: the sequence goes on by one, the RTP clock by the 3 s held.
        assert resumed.sequence == (held_from.sequence + 1) & 0xFFFF
        assert (resumed.timestamp - held_from.timestamp) & 0xFFFFFFFF >= 8000 * 2
        # Talk-spurts: the first packet of the call and the first after the hold carry the marker.
        assert before.packets[0].marker and resumed.marker
        assert not any(p.marker for p in before.packets[1:] + after.packets[1:])
        # The resume moved the media and left only PCMA: applied to the running call.
        assert {p.payload_type for p in before.packets} == {0} and {p.payload_type for p in after.packets} == {8}
        # The prompt paused while held and went on where it stopped, now in A-law.
        heard = before.audio()
        start = heard.index(encoded(AUDIO[:160], PayloadType.PCMU))
        sent = len(heard) - start
        assert heard[start:] == encoded(AUDIO[:sent], PayloadType.PCMU)
        rest = after.audio()[:len(AUDIO) - sent]
        assert rest == encoded(AUDIO[sent:sent + len(rest)], PayloadType.PCMA)
    finally:
        sip.stop()

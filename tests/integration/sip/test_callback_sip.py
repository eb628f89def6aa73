"""Click-to-call back over SIP against real Kamailio and sipp phones.

The operator's and the household's sipp phones answer with their audio pointed at RTP sockets the
test owns, so the test can speak into one side and hear it come out of the other.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import wait_until
from sip.harness import Kamailio, Sipp, free_udp_range, register_contact

from callcenter.adapters.clock import SystemClock
from callcenter.domain.types import Actor
from callcenter.service.callback import CALL_BACK_LABELS, CallBackError, CallBackOutcome, CallBackTimeline
from callcenter.service.guard import GuardedCallBack, KnownNumbers, operator_phone_set
from callcenter.settings import SipSettings
from callcenter.sip.callback import SipCallBack
from callcenter.sip.service import SipService
from contacts.phones import PhonePolicy

pytestmark = pytest.mark.timeout(120)
OPERATOR = "13700000001"
HOUSEHOLD_LINE = "13800000002"
INCIDENT = "inc-callback-1"


@dataclass
class TimelineRecorder:
    """The engine's add_note, kept in memory: the call-back's steps as the operators would read them."""

    texts: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def add_note(self, incident_id: str, text: str, actor: Actor) -> None:
        assert incident_id == INCIDENT and actor.name == "call-back"
        with self.changed:
            self.texts.append(text)
            self.changed.notify_all()

    def steps(self) -> list[CallBackOutcome]:
        return [next(o for o, label in CALL_BACK_LABELS.items() if f"：{label}" in t) for t in self.texts]

    def wait_step(self, outcome: CallBackOutcome, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: outcome in self.steps(), timeout)


class RtpPeer:
    """A phone's audio end: records what the service sends here and can speak back (PCMU)."""

    LOUD = b"\x80" * 160  # µ-law near full scale; silence from the service is 0xFF

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.payloads: list[bytes] = []
        self.source: tuple[str, int] | None = None
        self._running = True
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while self._running:
            try:
                data, source = self.sock.recvfrom(2048)
            except (TimeoutError, OSError):
                continue
            self.source = source
            self.payloads.append(data[12:])

    def loud_packets(self) -> int:
        return sum(1 for p in list(self.payloads) if sum(1 for b in p if b < 0xF0 and b != 0x7F) > len(p) // 2)

    def speak(self, packets: int) -> None:
        assert self.source is not None, "the service never sent audio here"
        for n in range(packets):
            header = bytes([0x80, 0]) + n.to_bytes(2, "big") + (n * 160).to_bytes(4, "big") + b"TEST"
            self.sock.sendto(header + self.LOUD, self.source)
            time.sleep(0.02)

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def sip(kamailio: Kamailio) -> Iterator[SipService]:
    low, high = free_udp_range(16)
    settings = SipSettings.model_validate({"registrar_port": kamailio.port, "sip_port": 0, "rtp_port_low": low,
                                           "rtp_port_high": high, "max_channels": 4})
    service = SipService(settings, on_emergency=lambda caller: None)
    service.start()
    assert service.phone.wait_registered(5), service.registration
    yield service
    service.stop()


@pytest.fixture
def timeline() -> TimelineRecorder:
    return TimelineRecorder()


@pytest.fixture
def callback(sip: SipService, timeline: TimelineRecorder) -> SipCallBack:
    return SipCallBack(sip.phone, sip.channel, CallBackTimeline(timeline), ring_timeout=3.0, max_seconds=60)


@pytest.fixture
def peers() -> Iterator[tuple[RtpPeer, RtpPeer]]:
    operator, household = RtpPeer(), RtpPeer()
    yield operator, household
    operator.close()
    household.close()


def _phone(scenario: str, sipp_dir: Path, kamailio: Kamailio, number: str, rtp: RtpPeer | None = None) -> Sipp:
    keys = {"rtp_port": str(rtp.port)} if rtp is not None else {}
    phone = Sipp(scenario, sipp_dir, keys=keys).start()
    register_contact(kamailio.port, number, phone.port)
    return phone


def test_operator_then_household_bridged_both_ways_and_hang_up_ends_both(
        kamailio: Kamailio, sipp_dir: Path, sip: SipService, callback: SipCallBack, timeline: TimelineRecorder,
        peers: tuple[RtpPeer, RtpPeer]) -> None:
    operator_rtp, household_rtp = peers
    operator = _phone("callback_party", sipp_dir, kamailio, OPERATOR, operator_rtp)
    household = _phone("callback_party_hangs_up", sipp_dir, kamailio, HOUSEHOLD_LINE, household_rtp)
    reference = callback.call_back(OPERATOR, HOUSEHOLD_LINE, INCIDENT)
    assert reference.startswith("sip-callback-")
    assert timeline.wait_step(CallBackOutcome.HOUSEHOLD_ANSWERED, 20), timeline.texts
    assert sip.channel.active_calls == 2  # the call-back holds two trunk channels
    assert wait_until(lambda: operator_rtp.source is not None and household_rtp.source is not None, 5)
    assert operator_rtp.loud_packets() == 0  # only silence until someone speaks
    household_rtp.speak(25)
    assert wait_until(lambda: operator_rtp.loud_packets() >= 10, 5), "household's voice not heard by the operator"
    before = household_rtp.loud_packets()
    operator_rtp.speak(25)
    assert wait_until(lambda: household_rtp.loud_packets() >= before + 10, 5), "operator not heard by the household"
    # The household hangs up after 6 s: the service must hang up the operator's phone too.
    assert household.wait(timeout=30) == 0, household.errors()
    assert operator.wait(timeout=30) == 0, operator.errors()
    assert callback.wait(reference, 10)
    assert timeline.steps() == [CallBackOutcome.OPERATOR_ANSWERED, CallBackOutcome.HOUSEHOLD_ANSWERED,
                                CallBackOutcome.ENDED]
    assert all(reference in text for text in timeline.texts)
    assert "住户挂断" in timeline.texts[-1]
    assert wait_until(lambda: sip.channel.active_calls == 0, 5)


def test_operator_not_answering_means_the_household_is_never_dialled(
        kamailio: Kamailio, sipp_dir: Path, sip: SipService, callback: SipCallBack,
        timeline: TimelineRecorder) -> None:
    operator = _phone("responder_never_answers", sipp_dir, kamailio, OPERATOR)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as household_phone:
        household_phone.bind(("127.0.0.1", 0))
        household_phone.settimeout(0.5)
        register_contact(kamailio.port, HOUSEHOLD_LINE, household_phone.getsockname()[1])
        reference = callback.call_back(OPERATOR, HOUSEHOLD_LINE, INCIDENT)
        assert callback.wait(reference, 20)
        assert operator.wait(timeout=15) == 0, operator.errors()  # rang, then got our CANCEL
        with pytest.raises(TimeoutError):
            household_phone.recv(4096)  # no INVITE ever reached the household
    assert timeline.steps() == [CallBackOutcome.OPERATOR_UNANSWERED]
    assert "无人接听" in timeline.texts[0]
    assert sip.channel.active_calls == 0


def test_busy_household_is_recorded_and_the_operator_released(
        kamailio: Kamailio, sipp_dir: Path, sip: SipService, callback: SipCallBack, timeline: TimelineRecorder,
        peers: tuple[RtpPeer, RtpPeer]) -> None:
    operator = _phone("callback_party", sipp_dir, kamailio, OPERATOR, peers[0])
    household = _phone("responder_486", sipp_dir, kamailio, HOUSEHOLD_LINE)
    reference = callback.call_back(OPERATOR, HOUSEHOLD_LINE, INCIDENT)
    assert callback.wait(reference, 20)
    assert household.wait(timeout=15) == 0, household.errors()
    assert operator.wait(timeout=15) == 0, operator.errors()  # our BYE once the household was busy
    assert timeline.steps() == [CallBackOutcome.OPERATOR_ANSWERED, CallBackOutcome.HOUSEHOLD_UNANSWERED]
    assert "486" in timeline.texts[-1]


def test_a_number_outside_the_directory_is_refused_before_any_call(
        sip: SipService, callback: SipCallBack, timeline: TimelineRecorder) -> None:
    policy = PhonePolicy()

    class Directory:
        def is_known_number(self, number: str) -> bool:
            return number == "+86" + HOUSEHOLD_LINE

    known = KnownNumbers(Directory(), operator_phone_set([OPERATOR], policy), policy, SystemClock(),
                         timedelta(seconds=60))
    guarded = GuardedCallBack(callback, known)
    with pytest.raises(CallBackError, match="not in the directory"):
        guarded.call_back(OPERATOR, "13912345678", INCIDENT)
    with pytest.raises(CallBackError, match="not in the directory"):
        guarded.call_back("13912345678", HOUSEHOLD_LINE, INCIDENT)  # nor a stranger as "operator"
    assert not sip.phone.calls and sip.channel.active_calls == 0 and timeline.texts == []


def test_refused_when_the_trunk_channels_are_busy_or_unregistered(kamailio: Kamailio,
                                                                  timeline: TimelineRecorder) -> None:
    low, high = free_udp_range(4)
    settings = SipSettings.model_validate({"registrar_port": kamailio.port, "sip_port": 0, "rtp_port_low": low,
                                           "rtp_port_high": high, "max_channels": 1})
    service = SipService(settings, on_emergency=lambda caller: None)
    callback = SipCallBack(service.phone, service.channel, CallBackTimeline(timeline))
    with pytest.raises(CallBackError, match="SIP trunk is down"):
        callback.call_back(OPERATOR, HOUSEHOLD_LINE, INCIDENT)  # not registered yet
    service.start()
    try:
        assert service.phone.wait_registered(5)
        with pytest.raises(CallBackError, match="all 1 SIP channels are busy"):
            callback.call_back(OPERATOR, HOUSEHOLD_LINE, INCIDENT)
    finally:
        service.stop()
    assert service.channel.active_calls == 0 and not service.phone.calls and timeline.texts == []

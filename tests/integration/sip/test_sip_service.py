"""The SIP service against real Kamailio and sipp: inbound 995 calls, alert legs and their
outcomes, the channel limit's queue order, OPTIONS during registration, registrar restarts.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import HOUSEHOLD, SERVICE, household, wait_until
from hostile_support import exchange, status_code
from pyVoIP.VoIP import CallState
from sip.harness import Kamailio, Sipp, free_udp_range, options_text, register_contact

from callcenter.domain.messages import MessageFacts
from callcenter.domain.types import CallerId, CallerTrust, Channel, LegPurpose, LegStatus, Recipient
from callcenter.ivr.media import CallMedia
from callcenter.ivr.media_contract import FarEndScript, check_call_media
from callcenter.service.ports import LegOrder
from callcenter.settings import SipSettings
from callcenter.sip.service import SipService

pytestmark = pytest.mark.timeout(120)
PRESSED = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@dataclass
class RecordingSink:
    outcomes: list[tuple[str, LegStatus, str]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def leg_outcome(self, leg_id: str, status: LegStatus, detail: str = "", provider_ref: str = "") -> None:
        with self.changed:
            self.outcomes.append((leg_id, status, detail))
            self.changed.notify_all()

    def statuses(self, leg_id: str) -> list[LegStatus]:
        return [status for leg, status, _ in self.outcomes if leg == leg_id]

    def wait_final(self, leg_id: str, timeout: float) -> LegStatus | None:
        with self.changed:
            self.changed.wait_for(lambda: any(s.is_final for s in self.statuses(leg_id)), timeout)
        finals = [s for s in self.statuses(leg_id) if s.is_final]
        return finals[-1] if finals else None


def order(leg: str, phone: str, level: int = 0, pressed_ago: float = 0.0, incident: str = "inc-1") -> LegOrder:
    facts = MessageFacts("张家", "一组 3 号", HOUSEHOLD, PRESSED - timedelta(seconds=pressed_ago), "unknown")
    return LegOrder(
        leg_id=f"{incident}/{leg}", incident_id=incident, channel=Channel.CALL, purpose=LegPurpose.ALERT, attempt=1,
        recipient=Recipient("邻居", phone, "neighbour"), text="", facts=facts, incident_level=level, calls_wanted=3,
    )


@dataclass
class Emergencies:
    """on_emergency: records the caller and the call's state at that moment (must still be ringing)."""

    service: SipService | None = None
    calls: list[tuple[str, list[str]]] = field(default_factory=list)
    trusts: list[CallerTrust] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def __call__(self, caller: CallerId) -> None:
        assert self.service is not None
        states = [call.state.name for call in self.service.phone.calls.values()]
        self.calls.append((caller.number, states))
        self.trusts.append(caller.trust)
        self.sources.append(caller.source)


@pytest.fixture
def service(kamailio: Kamailio) -> object:
    return _service(kamailio)


def _service(kamailio: Kamailio, **overrides: object) -> tuple[SipService, Emergencies, RecordingSink]:
    low, high = free_udp_range(16)
    values: dict[str, object] = {
        "registrar_port": kamailio.port, "sip_port": 0, "rtp_port_low": low, "rtp_port_high": high,
        "ring_timeout": 2.0, "max_channels": 4,
    }
    values.update(overrides)
    settings = SipSettings.model_validate(values)
    emergencies = Emergencies()
    sip = SipService(settings, on_emergency=emergencies)
    emergencies.service = sip
    sink = RecordingSink()
    sip.channel.sink = sink
    sip.start()
    assert sip.phone.wait_registered(5), sip.registration
    return sip, emergencies, sink


@pytest.fixture
def running(kamailio: Kamailio) -> object:
    sip, emergencies, sink = _service(kamailio)
    yield sip, emergencies, sink
    sip.stop()


def test_household_call_opens_the_incident_before_answering(running: object, kamailio: Kamailio,
                                                              sipp_dir: Path) -> None:
    sip, emergencies, _ = running  # type: ignore[misc]
    assert household(sipp_dir, kamailio, extra=["-recv_timeout", "900"]).run(timeout=30) == 0
    assert emergencies.calls == [(HOUSEHOLD, ["RINGING"])]
    assert sip.inbound_calls == 1


def test_invite_without_sdp_refused_but_the_emergency_still_opens(running: object, kamailio: Kamailio,
                                                                  sipp_dir: Path) -> None:
    _, emergencies, _ = running  # type: ignore[misc]
    assert household(sipp_dir, kamailio, "invite_without_sdp", extra=["-recv_timeout", "3000"]).run(timeout=30) == 0
    assert wait_until(lambda: bool(emergencies.calls), 5)
    assert emergencies.calls[0][0] == HOUSEHOLD


def test_inbound_handler_failure_keeps_the_incident_and_ends_the_call(kamailio: Kamailio, sipp_dir: Path) -> None:
    sip, emergencies, _ = _service(kamailio)

    def broken_flow(media: CallMedia) -> None:
        raise RuntimeError("prompt file missing")

    sip.inbound_handler = broken_flow
    try:
        caller = household(sipp_dir, kamailio).start()  # our BYE arrives before the household's
        caller.wait(timeout=20)
        assert [number for number, _ in emergencies.calls] == [HOUSEHOLD]
        assert wait_until(lambda: not sip.phone.calls, 5)
    finally:
        sip.stop()


def test_alert_leg_answered_and_1_pressed_is_acknowledged(running: object, kamailio: Kamailio,
                                                          sipp_dir: Path) -> None:
    sip, _, sink = running  # type: ignore[misc]
    responder = Sipp("responder_press_1", sipp_dir).start()
    register_contact(kamailio.port, "13900000011", responder.port)
    ref = sip.channel.send(order("leg-1", "13900000011"))
    assert ref.startswith("sip-")
    assert sink.wait_final("inc-1/leg-1", 20) == LegStatus.ACKNOWLEDGED
    assert sink.statuses("inc-1/leg-1") == [
        LegStatus.DIALING, LegStatus.RINGING, LegStatus.ANSWERED, LegStatus.ACKNOWLEDGED,
    ]
    assert responder.wait(timeout=15) == 0, responder.errors()


def test_a_key_pressed_before_the_answer_never_acknowledges(
    running: object, kamailio: Kamailio, sipp_dir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue #19: the phone presses 1 while it still rings, 1 s before its 200. Our INVITE's RTP port
    is bound before the INVITE leaves, so the kernel holds the key; it used to count (this test
    asserted so). Before the answer's SDP is known nobody's media can be trusted (strangers spray
    keys at the RTP range while phones ring: tests/integration/sip/test_rtp_source_trust.py), so
    what waits at the port is discarded when the answer comes, and a key pressed before the answer
    never says "I'm coming"."""
    monkeypatch.setattr("callcenter.sip.handlers.KEY_WAIT_SECONDS", 3.0)
    sip, _, sink = running  # type: ignore[misc]
    responder = Sipp("responder_press_1_before_answer", sipp_dir).start()
    register_contact(kamailio.port, "13900000012", responder.port)
    sip.channel.send(order("leg-early", "13900000012"))
    assert sink.wait_final("inc-1/leg-early", 20) == LegStatus.ANSWERED_WITHOUT_KEY
    assert LegStatus.ACKNOWLEDGED not in sink.statuses("inc-1/leg-early")
    assert responder.wait(timeout=15) == 0, responder.errors()


def test_alert_calls_have_a_socket_of_their_own(running: object, kamailio: Kamailio, sipp_dir: Path) -> None:
    """The INVITE names the alert port in its Via and Contact, so the responses and the neighbour's
    in-dialog requests come there, never to the registered port a household's INVITE waits on."""
    sip, _, sink = running  # type: ignore[misc]
    assert sip.phone.alert_port not in (0, sip.phone.sip_port)
    trace = sipp_dir / "responder-messages.log"
    responder = Sipp("responder_press_1", sipp_dir, extra=["-trace_msg", "-message_file", str(trace)]).start()
    register_contact(kamailio.port, "13900000012", responder.port)
    registered_port_read = sip.phone.sip.datagrams
    sip.channel.send(order("leg-1", "13900000012"))
    assert sink.wait_final("inc-1/leg-1", 20) == LegStatus.ACKNOWLEDGED
    assert responder.wait(timeout=15) == 0, responder.errors()
    invite = trace.read_text().split("INVITE sip:", 1)[1].split("\n\n", 1)[0]
    ours = [line for line in invite.splitlines() if line.startswith(("Via:", "Contact:")) and "127.0.0.1:" in line]
    assert any(line.startswith("Via:") and f"127.0.0.1:{sip.phone.alert_port}" in line for line in ours), ours
    assert any(line.startswith("Contact:") and f"127.0.0.1:{sip.phone.alert_port}" in line for line in ours), ours
    assert f":{sip.phone.sip_port}" not in invite
    assert sip.phone.dialer.datagrams >= 3  # 100 (Kamailio), 180 and 200 (the phone), and its BYE
    # The registered port read nothing of this call (at most a registration refresh or a keepalive).
    assert sip.phone.sip.datagrams - registered_port_read <= 2


def test_the_alert_socket_takes_hostile_input_as_the_registered_one_does(
        running: object, kamailio: Kamailio, sipp_dir: Path) -> None:
    """Anyone can reach the alert port too: junk is refused, OPTIONS answered, alert calls go on."""
    sip, _, sink = running  # type: ignore[misc]
    target = ("127.0.0.1", sip.phone.alert_port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        for junk in (os.urandom(300), b"\xff\xfe INVITE \x00", b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", b"\r\n\r\n"):
            sock.sendto(junk, target)
        probe = options_text(sip.phone.alert_port).replace("{local}", str(sock.getsockname()[1]))
        assert [status_code(r) for r in exchange(sock, probe.encode(), target, 5)] == [200]
    assert wait_until(lambda: sip.phone.dialer.malformed >= 2, 5)
    responder = Sipp("responder_press_1", sipp_dir).start()
    register_contact(kamailio.port, "13900000013", responder.port)
    sip.channel.send(order("leg-1", "13900000013"))
    assert sink.wait_final("inc-1/leg-1", 20) == LegStatus.ACKNOWLEDGED
    assert responder.wait(timeout=15) == 0, responder.errors()


@pytest.mark.parametrize(("scenario", "expected"), [
    ("responder_486", LegStatus.BUSY), ("responder_603", LegStatus.BUSY), ("responder_480", LegStatus.NO_ANSWER),
    ("responder_408", LegStatus.NO_ANSWER),
])
def test_rejected_alert_legs(running: object, kamailio: Kamailio, sipp_dir: Path, scenario: str,
                             expected: LegStatus) -> None:
    sip, _, sink = running  # type: ignore[misc]
    responder = Sipp(scenario, sipp_dir).start()
    register_contact(kamailio.port, "13900000012", responder.port)
    sip.channel.send(order("leg-2", "13900000012"))
    assert sink.wait_final("inc-1/leg-2", 15) == expected
    assert responder.wait(timeout=15) == 0, responder.errors()  # the rejection was ACKed


def test_unanswered_alert_leg_is_cancelled_after_the_ring_timeout(running: object, kamailio: Kamailio,
                                                                  sipp_dir: Path) -> None:
    sip, _, sink = running  # type: ignore[misc]
    responder = Sipp("responder_never_answers", sipp_dir).start()
    register_contact(kamailio.port, "13900000013", responder.port)
    sip.channel.send(order("leg-3", "13900000013"))
    assert sink.wait_final("inc-1/leg-3", 20) == LegStatus.NO_ANSWER
    assert LegStatus.RINGING in sink.statuses("inc-1/leg-3")
    assert responder.wait(timeout=15) == 0, responder.errors()  # it saw our CANCEL and we ACKed its 487


def test_unreachable_number_is_reported_not_lost(running: object) -> None:
    sip, _, sink = running  # type: ignore[misc]
    sip.channel.send(order("leg-4", "13900000099"))  # nobody registered: Kamailio answers 480
    assert sink.wait_final("inc-1/leg-4", 15) == LegStatus.NO_ANSWER


def test_a_full_trunk_gives_the_next_channel_to_the_incident_with_no_call_up(kamailio: Kamailio,
                                                                              sipp_dir: Path) -> None:
    """Two trunk channels, both ringing for incident a; a's third neighbour and b's first wait. The
    first channel freed goes to b, pressed later but with no call up, then a's third (FairDialQueue)."""
    sip, _, sink = _service(kamailio, max_channels=2, ring_timeout=1.5)
    dialled: list[str] = []
    sip.channel.on_dial = lambda o: dialled.append(o.leg_id)
    try:
        responder = Sipp("responder_never_answers", sipp_dir).start()
        register_contact(kamailio.port, "13900000021", responder.port)
        sip.channel.send(order("a1", "13900000021", pressed_ago=60, incident="inc-a"))
        sip.channel.send(order("a2", "13900000021", pressed_ago=60, incident="inc-a"))
        assert wait_until(lambda: sip.channel.active_calls == 2, 5)
        sip.channel.send(order("a3", "13900000021", pressed_ago=60, incident="inc-a"))
        sip.channel.send(order("b1", "13900000021", pressed_ago=10, incident="inc-b"))
        assert sip.channel.active_calls == 2 and len(sip.channel.queue) == 2
        for leg in ("inc-a/a1", "inc-a/a2", "inc-b/b1", "inc-a/a3"):
            assert sink.wait_final(leg, 20) is LegStatus.NO_ANSWER
        assert dialled == ["inc-a/a1", "inc-a/a2", "inc-b/b1", "inc-a/a3"]
    finally:
        sip.stop()


def test_a_leg_that_finds_every_rtp_port_taken_waits_and_rings_once_a_call_frees_its_ports(
        kamailio: Kamailio, sipp_dir: Path) -> None:
    """One RTP/RTCP port pair, two trunk channels: the second leg finds no port (in a flood the
    households' calls hold the range). It must wait for the pair, not fail: a failed leg counts as
    tried and would send the escalation past a neighbour nobody rang."""
    low, high = free_udp_range(2)
    sip, _, sink = _service(kamailio, max_channels=2, ring_timeout=1.5, rtp_port_low=low, rtp_port_high=high)
    try:
        responder = Sipp("responder_never_answers", sipp_dir).start()
        register_contact(kamailio.port, "13900000021", responder.port)
        sip.channel.send(order("a1", "13900000021", incident="inc-a"))
        sip.channel.send(order("b1", "13900000021", incident="inc-b"))
        for leg in ("inc-a/a1", "inc-b/b1"):
            assert sink.wait_final(leg, 20) is LegStatus.NO_ANSWER, sink.outcomes
        assert sip.channel.media_waits >= 1
        assert LegStatus.FAILED not in sink.statuses("inc-b/b1")
        assert sink.statuses("inc-b/b1").count(LegStatus.DIALING) == 1  # dialled once, when the pair was free
    finally:
        sip.stop()


def test_options_and_notify_during_registration(running: object, kamailio: Kamailio, sipp_dir: Path) -> None:
    sip, _, _ = running  # type: ignore[misc]
    failures: list[Exception] = []
    stop = threading.Event()

    def reregister() -> None:
        while not stop.is_set():
            try:
                sip.phone.sip._register_once()
            except Exception as exc:
                failures.append(exc)

    worker = threading.Thread(target=reregister, daemon=True)
    worker.start()
    flood = household(sipp_dir, kamailio, "options", calls=200, rate=200, extra=["-recv_timeout", "3000"])
    notify = household(sipp_dir, kamailio, "notify", calls=50, rate=100, extra=["-recv_timeout", "3000"])
    try:
        assert flood.run(timeout=60) == 0, flood.errors()
        assert notify.run(timeout=60) == 0, notify.errors()
    finally:
        stop.set()
        worker.join(timeout=10)
    assert failures == []
    assert sip.registration.registered


def test_registration_comes_back_after_a_registrar_restart(tmp_path: Path, sipp_dir: Path) -> None:
    registrar = Kamailio(tmp_path / "registrar").start()
    sip, emergencies, _ = _service(registrar, register_expires=10)  # refreshed every 8 s
    try:
        registrar.stop()
        assert sip.phone.sip.registration.wait_failures(1, 30)
        assert sip.registration.retrying_since is not None
        registrar.start()
        assert sip.phone.wait_registered(30), sip.registration
        assert household(sipp_dir, registrar).run(timeout=30) == 0
        assert [number for number, _ in emergencies.calls] == [HOUSEHOLD]
    finally:
        sip.stop()
        registrar.stop()


def test_service_phone_is_extension_995(running: object) -> None:
    sip, _, _ = running  # type: ignore[misc]
    assert sip.phone.username == SERVICE
    assert sip.health()["registered"] is True
    assert not [c for c in sip.phone.calls.values() if c.state != CallState.ENDED]
    time.sleep(0)


def test_sip_call_media_meets_the_ivr_contract(kamailio: Kamailio, sipp_dir: Path) -> None:
    sip, _, _ = _service(kamailio)
    problems: list[str] = []
    done = threading.Event()

    def contract(media: CallMedia) -> None:
        try:
            problems.extend(check_call_media(media, FarEndScript(HOUSEHOLD, "1")))
        finally:
            done.set()

    sip.inbound_handler = contract
    try:
        caller = household(sipp_dir, kamailio, "household_press_1").start()
        assert done.wait(40)
        caller.wait(timeout=20)
    finally:
        sip.stop()
    assert problems == []


@pytest.mark.parametrize(("scenario", "expected"), [
    ("responder_press_2", LegStatus.DECLINED), ("responder_silent", LegStatus.ANSWERED_WITHOUT_KEY),
])
def test_answered_alert_leg_outcomes(running: object, kamailio: Kamailio, sipp_dir: Path, scenario: str,
                                     expected: LegStatus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("callcenter.sip.handlers.KEY_WAIT_SECONDS", 3.0)
    sip, _, sink = running  # type: ignore[misc]
    responder = Sipp(scenario, sipp_dir).start()
    register_contact(kamailio.port, "13900000031", responder.port)
    sip.channel.send(order("leg-5", "13900000031"))
    assert sink.wait_final("inc-1/leg-5", 20) == expected
    assert LegStatus.ANSWERED in sink.statuses("inc-1/leg-5")
    assert responder.wait(timeout=15) == 0, responder.errors()  # we hung up with a BYE


def test_options_flood_during_live_calls(running: object, kamailio: Kamailio, sipp_dir: Path) -> None:
    sip, emergencies, sink = running  # type: ignore[misc]
    responders = [Sipp("responder_press_1", sipp_dir).start() for _ in range(3)]
    for n, responder in enumerate(responders):
        register_contact(kamailio.port, f"1390000004{n}", responder.port)
    callers = household(sipp_dir, kamailio, "household_press_1", calls=5, rate=10, extra=["-l", "5"]).start()
    flood = household(sipp_dir, kamailio, "options", calls=300, rate=150, extra=["-recv_timeout", "3000"]).start()
    for n in range(3):
        sip.channel.send(order(f"flood-{n}", f"1390000004{n}"))
    assert flood.wait(timeout=60) == 0, flood.errors()
    for n in range(3):
        assert sink.wait_final(f"inc-1/flood-{n}", 30) == LegStatus.ACKNOWLEDGED
    assert callers.wait(timeout=60) == 0, callers.errors()
    assert len(emergencies.calls) == 5
    for responder in responders:
        assert responder.wait(timeout=20) == 0, responder.errors()
    assert sip.registration.registered

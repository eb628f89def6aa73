"""SIP ↔ Twilio failover with the real peers: Kamailio and sipp phones on the SIP path, the local Twilio
emulator on the other, the real incident engine between them.

Registration lost (Kamailio stopped) and a trunk answering 503 move the legs not yet put through to a
phone over to Twilio within 10 s, with a timeline note; Kamailio back brings new legs to SIP again.
No leg is placed twice: each neighbour's phone is counted at sipp (INVITEs received) and at the emulator.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sip.harness import KAMAILIO_SH, ROOT, Kamailio, Sipp, free_udp_range, options_text, register_contact, sip_request

from callcenter.bootstrap import build
from callcenter.channels.failover import FailoverChannel, TimelineNotes
from callcenter.db.incident_repo import SqlIncidentStore
from callcenter.domain.types import Channel
from callcenter.service.ports import AlertChannel, LegOrder
from callcenter.settings import SipSettings, TwilioSettings, load_settings
from callcenter.sip.service import SipService
from callcenter.twilio import wiring
from callcenter.twilio.channels import TwilioCallChannel
from tests.integration.twilio.rig import (
    CALL_FROM,
    SECOND_CALLER,
    SMS_FROM,
    ChannelFactory,
    TwilioRig,
    build_rig,
    failover,
    neighbour,
    twilio_only,
)
from tests.twilio_emulator import Emulator
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(120)

FAILOVER_WINDOW = 10.0  # seconds within which waiting and new legs must have moved
REGISTER_EXPIRES = 3  # short bindings, so a lost registrar shows within seconds (docs/sip.md)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(slow_seconds=2.0) as running:
        yield running


@pytest.fixture
def kamailio(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Kamailio]:
    refusing = getattr(request, "param", "") == "refusing"  # parametrized indirectly by a test
    registrar = (RefusingTrunk if refusing else Kamailio)(tmp_path / "kamailio").start()
    yield registrar
    registrar.stop()


# A proxy does not relay a phone's 503 (RFC 3261 16.7: it becomes 500), so the trunk itself refuses.
REFUSE_ALERT_CALLS = """route[LOCATION] {
    if (is_method("INVITE") && $rU =~ "^\\+86139") {
        send_reply("503", "Service Unavailable");
        exit;
    }
"""


@dataclass
class RefusingTrunk(Kamailio):
    """Kamailio with config/kamailio/loopback.cfg, except that alert calls get 503 from the proxy itself."""

    def start(self, timeout: float = 15.0) -> Kamailio:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        cfg = self.run_dir / "refusing.cfg"
        text = (ROOT / "config" / "kamailio" / "loopback.cfg").read_text(encoding="utf-8")
        assert "route[LOCATION] {\n" in text
        cfg.write_text(text.replace("route[LOCATION] {\n", REFUSE_ALERT_CALLS, 1), encoding="utf-8")
        log = (self.run_dir / "kamailio.log").open("ab")
        self.process = subprocess.Popen([str(KAMAILIO_SH), str(self.port), str(self.run_dir), str(cfg)],
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                sip_request(self.port, options_text(self.port), timeout=0.3)
                return self
        raise RuntimeError(f"kamailio did not start: {self.log_tail()}")


@pytest.fixture
def sip(kamailio: Kamailio) -> Iterator[SipService]:
    low, high = free_udp_range(16)
    settings = SipSettings(registrar_host="127.0.0.1", registrar_port=kamailio.port, extension="995",
                           local_ip="127.0.0.1", sip_port=0, rtp_port_low=low, rtp_port_high=high,
                           ring_timeout=90.0, max_channels=1)
    service = SipService(settings, on_emergency=lambda caller: None)
    service.phone.sip.default_expires = REGISTER_EXPIRES
    service.start()
    assert service.phone.wait_registered(5), service.registration
    yield service
    service.stop()


class Phones:
    """One sipp UAS per neighbour, registered at Kamailio under the neighbour's number, tracing its INVITEs."""

    def __init__(self, kamailio: Kamailio, work_dir: Path, scenario: str, count: int = 3) -> None:
        self.kamailio, self.work_dir = kamailio, work_dir
        self.phones = {neighbour(i): self._start(scenario, i) for i in range(1, count + 1)}
        self.register()

    def _start(self, scenario: str, i: int) -> Sipp:
        trace = self.work_dir / f"n{i}-messages.log"
        return Sipp(scenario, self.work_dir, calls=20,
                    extra=["-trace_msg", "-message_file", str(trace), "-recv_timeout", "100000"]).start()

    def register(self) -> None:
        for number, phone in self.phones.items():
            register_contact(self.kamailio.port, number, phone.port)

    def invites(self, number: str) -> int:
        trace = self.work_dir / f"n{int(number[-2:])}-messages.log"
        if not trace.exists():
            return 0
        return sum(line.startswith("INVITE sip:") for line in trace.read_text(errors="replace").splitlines())

    def stop(self) -> None:
        for phone in self.phones.values():
            phone.stop()


def _sip_and_twilio(sip: SipService) -> ChannelFactory:
    def make(settings: TwilioSettings, base_url: str, store: SqlIncidentStore,
             notes: TimelineNotes) -> dict[Channel, AlertChannel]:
        channels = twilio_only(settings, base_url, store, notes)
        twilio_call = wiring.call_channel(settings, wiring.rest_api(settings), base_url, store)
        channels[Channel.CALL] = failover(Channel.CALL, settings, {"sip": sip.channel, "twilio": twilio_call}, notes)
        return channels
    return make


def _rig(sip: SipService, emulator: Emulator, tmp_path: Path) -> TwilioRig:
    rig = build_rig(f"sqlite:///{tmp_path / 'callcenter.db'}", tmp_path, emulator, make_channels=_sip_and_twilio(sip))
    sip.channel.sink = rig.engine
    return rig


@pytest.fixture
def rigs() -> Iterator[list[TwilioRig]]:
    made: list[TwilioRig] = []
    yield made
    for rig in made:
        for stop in rig.stops:
            stop()


def _moved_notes(rig: TwilioRig, incident_id: str) -> list[str]:
    return [n for n in rig.notes(incident_id) if n.startswith("通道切换")]


def _on_twilio(emulator: Emulator, number: str) -> int:
    return len(emulator.created("call", number))


def test_registration_lost_moves_waiting_legs_to_twilio_and_back(
        kamailio: Kamailio, sip: SipService, emulator: Emulator, tmp_path: Path, rigs: list[TwilioRig]) -> None:
    phones = Phones(kamailio, tmp_path / "sipp", "responder_never_answers")
    dialled: list[LegOrder] = []
    sip.channel.on_dial = dialled.append
    restarted: Kamailio | None = None
    try:
        rig = _rig(sip, emulator, tmp_path)
        rigs.append(rig)
        incident = rig.press()
        # One trunk channel: the first neighbour rings at its sipp phone, the other two wait for the slot.
        wait_for(lambda: len(dialled) == 1 and len(sip.channel.queue) == 2, what="one leg ringing, two waiting")
        ringing = dialled[0].recipient.phone
        wait_for(lambda: phones.invites(ringing) == 1, what="the INVITE at the ringing neighbour's phone")
        waiting = [neighbour(i) for i in range(1, 4) if neighbour(i) != ringing]

        kamailio.stop()
        for number in waiting:
            wait_for(lambda n=number: _on_twilio(emulator, n), timeout=FAILOVER_WINDOW, what=f"{number} via Twilio")
        notes = wait_for(lambda: _moved_notes(rig, incident.id), what="timeline note")
        assert "sip" in notes[0] and "twilio" in notes[0]
        assert not sip.channel.is_healthy() and len(sip.channel.queue) == 0

        restarted = Kamailio(kamailio.run_dir, port=kamailio.port).start()
        phones.register()
        wait_for(sip.channel.is_healthy, timeout=40, what="registered again")
        failover = rig.channels[Channel.CALL]
        wait_for(lambda: failover.usable("sip"), timeout=5, what="failover channel sees SIP healthy")  # type: ignore[attr-defined]
        before = {n: _on_twilio(emulator, n) for n in phones.phones}
        second = rig.press(SECOND_CALLER)
        # The one trunk channel is still held by the first leg (it rings on), so the new legs queue on SIP.
        wait_for(lambda: all(rig.legs(second.id, n, "call") and rig.legs(second.id, n, "call")[0].provider_ref
                             for n in phones.phones), what="new legs taken by a path")
        assert all(rig.legs(second.id, n, "call")[0].provider_ref.startswith("sip:") for n in phones.phones)
        assert len(sip.channel.queue) == 3
        assert {n: _on_twilio(emulator, n) for n in phones.phones} == before
        assert not _moved_notes(rig, second.id)
        # No leg placed twice: the ringing neighbour never went to Twilio, the moved ones never to SIP.
        assert _on_twilio(emulator, ringing) == 0
        assert all(_on_twilio(emulator, n) == 1 for n in waiting)
        assert [o.recipient.phone for o in dialled if o.incident_id == incident.id] == [ringing]
    finally:
        phones.stop()
        if restarted is not None:
            restarted.stop()


@pytest.mark.parametrize("kamailio", ["refusing"], indirect=True)
def test_trunk_503_moves_legs_to_twilio(kamailio: Kamailio, sip: SipService, emulator: Emulator, tmp_path: Path,
                                        rigs: list[TwilioRig]) -> None:
    phones = Phones(kamailio, tmp_path / "sipp", "responder_503")
    dialled: list[LegOrder] = []
    sip.channel.on_dial = dialled.append
    try:
        rig = _rig(sip, emulator, tmp_path)
        rigs.append(rig)
        incident = rig.press()
        for i in range(1, 4):
            wait_for(lambda i=i: _on_twilio(emulator, neighbour(i)), timeout=FAILOVER_WINDOW, what="Twilio call")
        notes = wait_for(lambda: _moved_notes(rig, incident.id), what="timeline note")
        assert "503" in notes[0]
        assert not sip.channel.is_healthy() and "503" in sip.channel.trunk_error
        # Only the first leg met the refusing trunk (no phone rang); the waiting ones went straight to Twilio.
        assert len(dialled) == 1
        assert sum(phones.invites(n) for n in phones.phones) == 0
        assert all(_on_twilio(emulator, neighbour(i)) == 1 for i in range(1, 4))
    finally:
        phones.stop()


def test_twilio_5xx_moves_legs_to_the_sip_trunk(kamailio: Kamailio, sip: SipService, emulator: Emulator,
                                                 tmp_path: Path, rigs: list[TwilioRig]) -> None:
    """Twilio first (the routes file), Twilio answering 500: every alert call rings its sipp phone instead."""
    phones = Phones(kamailio, tmp_path / "sipp", "responder_press_2")  # declines: no quorum, all three placed
    for i in range(1, 4):
        emulator.script(neighbour(i), "500", kind="call")
    routes = tmp_path / "channels.yaml"
    routes.write_text("call:\n  mobile: [twilio, sip]\nsms:\n  mobile: [twilio]\n", encoding="utf-8")
    try:
        rig = build_rig(f"sqlite:///{tmp_path / 'callcenter.db'}", tmp_path, emulator,
                        make_channels=_sip_and_twilio(sip), routes_file=routes, down_retries=1)
        sip.channel.sink = rig.engine
        rigs.append(rig)
        incident = rig.press()
        # One trunk channel: the three calls ring one after another, the first within the failover window.
        wait_for(lambda: any(phones.invites(n) for n in phones.phones), timeout=FAILOVER_WINDOW,
                 what="the first moved call at its sipp phone")
        for number in phones.phones:
            wait_for(lambda n=number: rig.statuses(incident.id, n, "call") == ["declined"], timeout=40,
                     what=f"{number} declined over SIP")
        # One note per move; it names the 500 or the release of the calls waiting behind it, whichever came first.
        note = wait_for(lambda: _moved_notes(rig, incident.id), what="timeline note")[0]
        assert "由twilio改走sip" in note and ("500" in note or "failing over" in note), note
        # Placed once each: one INVITE at each phone, and Twilio never took a call (500 every time).
        assert {n: phones.invites(n) for n in phones.phones} == dict.fromkeys(phones.phones, 1)
        assert {r.outcome for r in emulator.api_requests("call")} == {"500"}
        refs = [rig.legs(incident.id, n, "call")[0].provider_ref for n in phones.phones]
        assert all(ref.startswith("sip") for ref in refs), refs
    finally:
        phones.stop()


def test_composition_root_puts_sip_first_and_twilio_behind_it(tmp_path: Path, emulator: Emulator) -> None:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'callcenter.db'}", data_dir=tmp_path,
        engine={"call_channel": "sip", "sms_channel": "twilio"},
        sip={"registrar_port": 9, "sip_port": 0},  # never started: nothing is sent
        twilio={"enabled": True, "account_sid": emulator.account_sid, "auth_token": emulator.auth_token,
                "api_base_url": emulator.base_url, "call_from": CALL_FROM, "sms_from": SMS_FROM},
    )
    container = build(settings)
    channels = container._channels()
    call, sms = channels[Channel.CALL], channels[Channel.SMS]
    assert isinstance(call, FailoverChannel) and isinstance(sms, FailoverChannel)
    assert call.paths["sip"] is container.sip_service.channel
    assert isinstance(call.paths["twilio"], TwilioCallChannel)
    assert container.sip_service.channel.hand_back.connected  # a leg the trunk will not place goes to Twilio
    assert list(sms.paths) == ["twilio"]
    assert not container.sip_service.channel.is_healthy()  # not registered yet: legs would go by Twilio


def test_the_served_mass_event_board_summarises_only_numbers_an_sms_path_reaches(tmp_path: Path,
                                                                                 emulator: Emulator) -> None:
    """config/channels.yaml lists no SMS path for landlines: the board `callcenter serve` builds must
    keep a landline-only police station on its calls, not summarise it into a text nobody gets."""
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'callcenter.db'}", data_dir=tmp_path,
        engine={"call_channel": "sip", "sms_channel": "twilio"},
        sip={"registrar_port": 9, "sip_port": 0},
        twilio={"enabled": True, "account_sid": emulator.account_sid, "auth_token": emulator.auth_token,
                "api_base_url": emulator.base_url, "call_from": CALL_FROM, "sms_from": SMS_FROM},
    )
    board = build(settings).runtime.engine.mass_events  # built, never started (as the test above)
    assert board.can_text("+8613800000001")  # a mobile: Twilio SMS
    assert not board.can_text("+8653187654321")  # a landline: no SMS path

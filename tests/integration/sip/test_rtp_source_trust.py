"""Forged key presses against real Kamailio and sipp (issue #19, "Media").

An attacker who can reach the service's RTP range sprays RFC 2833 key packets at every port of it,
from other addresses, while a neighbour's phone rings and after it answers, and into a household's
995 call. Only the address and port the far end's SDP named count; a key pressed before the answer
never does. The rules one packet at a time: tests/unit/sip/test_rtp_source_rules.py.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_until
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sip.harness import Kamailio, Sipp, free_udp_range, register_contact
from sqlalchemy import text
from test_sip_service import RecordingSink, order

from callcenter.api.app import create_app
from callcenter.bootstrap import Container, build
from callcenter.db.roster_store import RosterStore
from callcenter.domain.types import IncidentStatus, LegStatus
from callcenter.settings import SipSettings, load_settings
from callcenter.sip.phone import HardenedCall
from callcenter.sip.rtp import MEDIA_DROPS, HardenedRTPClient
from callcenter.sip.service import SipService
from contacts.demo import generate_roster, scale_for_households

pytestmark = pytest.mark.timeout(120)
HOST = "127.0.0.1"
STRANGERS = ("127.0.0.2", "127.0.0.3")  # loopback too: other machines on the village network
DIGITS = {"1": 1, "2": 2, "9": 9}


def key_packet(digit: str, sequence: int, ssrc: int = 0x5EED) -> bytes:
    """The first packet of an RFC 2833 event (marker bit set, payload type 101): one key press."""
    return (bytes([0x80, 0x80 | 101]) + (sequence & 0xFFFF).to_bytes(2, "big")
            + (160 * sequence & 0xFFFFFFFF).to_bytes(4, "big") + ssrc.to_bytes(4, "big")
            + bytes([DIGITS[digit], 0x0A, 0, 160]))


class Sprayer:
    """Sends ``digit`` to every port of ``ports`` from each stranger address (and from our own host on
    another port, the phone's neighbour on the same machine) every ``interval`` seconds until stopped."""

    def __init__(self, digit: str, ports: range, interval: float = 0.02) -> None:
        self.digit, self.ports, self.interval = digit, ports, interval
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtp-sprayer", daemon=True)

    def __enter__(self) -> Sprayer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        with contextlib.ExitStack() as stack:
            senders = [stack.enter_context(socket_from(address)) for address in (*STRANGERS, HOST)]
            sequence = 0
            while not self._stop.is_set():
                sequence += 1
                for sock in senders:
                    for port in self.ports:
                        with contextlib.suppress(OSError):  # a port nobody holds answers ICMP: refused
                            sock.sendto(key_packet(self.digit, sequence), (HOST, port))
                            self.sent += 1
                self._stop.wait(self.interval)


def socket_from(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    return sock


@pytest.fixture
def alerting(kamailio: Kamailio, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SipService, RecordingSink]]:
    monkeypatch.setattr("callcenter.sip.handlers.KEY_WAIT_SECONDS", 4.0)
    low, high = free_udp_range(16)
    settings = SipSettings(registrar_port=kamailio.port, sip_port=0, rtp_port_low=low, rtp_port_high=high,
                           ring_timeout=10.0, max_channels=4)
    sip = SipService(settings, on_emergency=lambda caller: None)
    sink = RecordingSink()
    sip.channel.sink = sink
    sip.start()
    assert sip.phone.wait_registered(5), sip.registration
    yield sip, sink
    sip.stop()


def rtp_range(sip: SipService) -> range:
    return range(sip.phone.rtpPortLow, sip.phone.rtpPortHigh + 1)


def the_call(sip: SipService, timeout: float) -> HardenedCall:
    """The one call once placed or ringing (kept so its RTP counters can be read after it ends)."""
    found: list[HardenedCall] = []
    assert wait_until(lambda: bool(found.extend(list(sip.phone.calls.values())) or found), timeout)
    return found[0]


def rtp_client(call: HardenedCall) -> HardenedRTPClient:
    return next(c for c in call.RTPClients if isinstance(c, HardenedRTPClient))


def test_keys_sprayed_before_and_after_the_answer_never_acknowledge(
        alerting: tuple[SipService, RecordingSink], kamailio: Kamailio, sipp_dir: Path) -> None:
    """The neighbour's phone rings 1.5 s, answers and presses nothing; strangers press 1 at every RTP
    port all along. Before: the first stranger's packet made the call's peer and its 1 "I'm coming"."""
    sip, sink = alerting
    foreign_before, early_before = MEDIA_DROPS.foreign, MEDIA_DROPS.early
    responder = Sipp("responder_rings_then_listens", sipp_dir).start()
    register_contact(kamailio.port, "13900000021", responder.port)
    with Sprayer("1", rtp_range(sip)) as sprayer:
        sip.channel.send(order("leg-sprayed", "13900000021"))
        call = the_call(sip, 10)
        final = sink.wait_final("inc-1/leg-sprayed", 30)
    assert final == LegStatus.ANSWERED_WITHOUT_KEY, sink.statuses("inc-1/leg-sprayed")
    assert LegStatus.ACKNOWLEDGED not in sink.statuses("inc-1/leg-sprayed")
    client = rtp_client(call)
    assert client.early > 0 and client.foreign > 0, (client.early, client.foreign, sprayer.sent)  # both phases hit
    assert MEDIA_DROPS.foreign - foreign_before >= client.foreign
    assert MEDIA_DROPS.early - early_before >= client.early
    assert responder.wait(timeout=15) == 0, responder.errors()


def test_the_genuine_phone_s_1_after_the_answer_acknowledges_while_strangers_press_2(
        alerting: tuple[SipService, RecordingSink], kamailio: Kamailio, sipp_dir: Path) -> None:
    """Strangers press 2 ("cannot come") at every port while the phone rings and after; the neighbour
    presses 1 from its SDP's media address: acknowledged. Before: the stranger's 2 declined the leg."""
    sip, sink = alerting
    responder = Sipp("responder_rings_then_press_1", sipp_dir).start()
    register_contact(kamailio.port, "13900000022", responder.port)
    with Sprayer("2", rtp_range(sip)):
        sip.channel.send(order("leg-genuine", "13900000022"))
        call = the_call(sip, 10)
        final = sink.wait_final("inc-1/leg-genuine", 30)
    assert final == LegStatus.ACKNOWLEDGED, sink.statuses("inc-1/leg-genuine")
    assert LegStatus.DECLINED not in sink.statuses("inc-1/leg-genuine")
    client = rtp_client(call)
    assert client.foreign > 0 and client.received > 0
    assert responder.wait(timeout=15) == 0, responder.errors()


def test_an_answer_naming_0_0_0_0_trusts_nobody(alerting: tuple[SipService, RecordingSink], kamailio: Kamailio,
                                                sipp_dir: Path) -> None:
    """The 200's SDP says c=0.0.0.0 ("send me nothing"): no source is named, so no key counts, not
    even one from the answering phone's own media port. Before: its first packet made it the peer."""
    sip, sink = alerting
    responder = Sipp("responder_answers_0000_then_press_1", sipp_dir).start()
    register_contact(kamailio.port, "13900000023", responder.port)
    sip.channel.send(order("leg-0000", "13900000023"))
    call = the_call(sip, 10)
    assert sink.wait_final("inc-1/leg-0000", 30) == LegStatus.ANSWERED_WITHOUT_KEY, sink.statuses("inc-1/leg-0000")
    assert rtp_client(call).foreign > 0  # the key came, and was not heard
    assert responder.wait(timeout=15) == 0, responder.errors()


# -- inbound: a household's 995 call, the real emergency_inbound flow ---------------------------------

HOUSEHOLD_LINE = "2001"  # the first demo household


@pytest.fixture
def service(tmp_path: Path, kamailio: Kamailio) -> Iterator[Container]:
    low, high = free_udp_range(32)
    settings = load_settings(
        data_dir=tmp_path / "data", engine={"call_channel": "sip"},
        sip={"registrar_port": kamailio.port, "sip_port": 0, "rtp_port_low": low, "rtp_port_high": high,
             "ring_timeout": 3.0, "max_channels": 30},
    )
    container = build(settings)
    container.init_db()
    roster = generate_roster(scale_for_households(10, 1.0), 7, settings.directory.max_group_responders)
    RosterStore(container.engine, settings.directory.phone_policy(), settings.directory.max_group_responders).apply(
        roster)
    container.runtime.start()
    assert container.sip_service.phone.wait_registered(10)
    yield container
    container.close()


def test_a_9_injected_into_a_household_s_call_cancels_nothing(service: Container, kamailio: Kamailio,
                                                              tmp_path: Path) -> None:
    """The household's offer names its media address; strangers press 9 (cancel), then 9 again
    (confirm) at every port for the whole call. Before: the first stranger in cancelled the incident."""
    sip = service.sip_service
    household = Sipp("household_silent_hold", tmp_path / "sipp", remote_port=kamailio.port,
                     keys={"household": HOUSEHOLD_LINE})
    with Sprayer("9", rtp_range(sip), interval=0.25):
        household.start()
        call = the_call(sip, 10)
        # Long enough for the menu, a 9, the confirmation prompt and a second 9 (two 6 s gathers at most).
        assert not wait_until(lambda: incident_status(service) is IncidentStatus.CANCELLED, 15)
    assert incident_status(service) is IncidentStatus.ALERTING
    client = rtp_client(call)
    assert client.foreign > 0, household.errors()
    household.stop()
    # What operators see: the process's /metrics counts the dropped packets.
    scraped = TestClient(create_app(service)).get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(scraped)}
    dropped = {s.labels["reason"]: s.value for s in families["callcenter_rtp_untrusted_packets"].samples
               if s.name.endswith("_total")}
    assert dropped["foreign_source"] >= client.foreign
    assert families["callcenter_rtp_calls_with_foreign_packets"].samples[0].value >= 1


def incident_status(container: Container) -> IncidentStatus | None:
    with container.engine.connect() as conn:
        row = conn.execute(text("SELECT status FROM incident ORDER BY opened_at DESC LIMIT 1")).first()
    return None if row is None else IncidentStatus(row[0])


"""Failover between a SIP-like path and the real Twilio channel, both ways, with timeline notes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from callcenter.channels.failover import TimelineNotes
from callcenter.db.incident_repo import SqlIncidentStore
from callcenter.domain.types import Channel, LegStatus
from callcenter.service.ports import AlertChannel
from callcenter.settings import TwilioSettings
from callcenter.twilio import wiring
from tests.integration.twilio.fake_sip import FakeSipPath
from tests.integration.twilio.rig import ChannelFactory, TwilioRig, failover, neighbour, twilio_only
from tests.twilio_emulator import Emulator
from tests.waiting import wait_for

FAILOVER_WINDOW = 10.0  # seconds within which pending and new legs must have moved


def _with_sip(sip: FakeSipPath) -> ChannelFactory:
    def make(settings: TwilioSettings, base_url: str, store: SqlIncidentStore,
             notes: TimelineNotes) -> dict[Channel, AlertChannel]:
        channels = twilio_only(settings, base_url, store, notes)
        twilio_call = wiring.call_channel(settings, wiring.rest_api(settings), base_url, store)
        channels[Channel.CALL] = failover(Channel.CALL, settings, {"sip": sip, "twilio": twilio_call}, notes)
        return channels
    return make


def _twilio_first(tmp_path: Path) -> Path:
    routes = tmp_path / "channels.yaml"
    routes.write_text("call:\n  mobile: [twilio, sip]\nsms:\n  mobile: [twilio]\n", encoding="utf-8")
    return routes


def _moved_notes(rig: TwilioRig, incident_id: str) -> list[str]:
    return [n for n in rig.notes(incident_id) if n.startswith("通道切换")]


def test_trunk_503_moves_calls_to_twilio_and_notes_it(rig_factory: Callable[..., TwilioRig], sqlite_url: str,
                                                     emulator: Emulator) -> None:
    sip = FakeSipPath(trunk_refuses=True)
    rig = rig_factory(sqlite_url, make_channels=_with_sip(sip))
    incident = rig.press()
    for i in range(1, 4):
        wait_for(lambda i=i: emulator.created("call", neighbour(i)), timeout=FAILOVER_WINDOW, what="twilio call")
    assert sip.orders == []
    notes = wait_for(lambda: _moved_notes(rig, incident.id), what="timeline note")
    assert len(notes) == 1 and "sip" in notes[0] and "twilio" in notes[0] and "503" in notes[0]
    wait_for(lambda: rig.legs(incident.id, neighbour(1), "call")[0].provider_ref.startswith("twilio:CA"),
             what="the Twilio SID on the leg")


def test_registration_lost_moves_waiting_legs_to_twilio(rig_factory: Callable[..., TwilioRig], sqlite_url: str,
                                                       emulator: Emulator) -> None:
    sip = FakeSipPath(hold=True)
    rig = rig_factory(sqlite_url, make_channels=_with_sip(sip))
    incident = rig.press()
    wait_for(lambda: all(rig.legs(incident.id, neighbour(i), "call")[0].claimed_by for i in range(1, 4)),
             what="calls handed to the SIP path")
    sip.registered = False  # the health monitor notices and releases the waiting legs
    for i in range(1, 4):
        wait_for(lambda i=i: emulator.created("call", neighbour(i)), timeout=FAILOVER_WINDOW, what="moved call")
    assert sip.orders == []
    wait_for(lambda: _moved_notes(rig, incident.id), what="timeline note")
    wait_for(lambda: rig.statuses(incident.id, neighbour(1), "call")[0] == LegStatus.ACKNOWLEDGED,
             what="moved call acknowledged")


def test_sip_healthy_again_takes_new_legs_back(rig_factory: Callable[..., TwilioRig], sqlite_url: str,
                                              emulator: Emulator) -> None:
    sip = FakeSipPath(registered=False)
    rig = rig_factory(sqlite_url, make_channels=_with_sip(sip))
    first = rig.press()
    wait_for(lambda: emulator.created("call", neighbour(1)), timeout=FAILOVER_WINDOW, what="call via twilio")
    sip.registered = True
    wait_for(lambda: sip.is_healthy(), what="sip healthy")
    second = rig.press("+867176100001")
    wait_for(lambda: sorted(sip.sent_to()) == [neighbour(i) for i in range(1, 4)], what="calls via SIP")
    wait_for(lambda: _moved_notes(rig, first.id), what="the first incident's note")  # written after the move
    assert not _moved_notes(rig, second.id)


def test_twilio_5xx_is_retried_then_fails_over_to_sip(rig_factory: Callable[..., TwilioRig], sqlite_url: str,
                                                     emulator: Emulator, tmp_path: Path) -> None:
    sip = FakeSipPath()
    for i in range(1, 4):
        emulator.script(neighbour(i), "500", kind="call")
    rig = rig_factory(sqlite_url, make_channels=_with_sip(sip), routes_file=_twilio_first(tmp_path),
                      down_retries=1)
    incident = rig.press()
    wait_for(lambda: sorted(sip.sent_to()) == [neighbour(i) for i in range(1, 4)], timeout=FAILOVER_WINDOW,
             what="calls moved to SIP")
    assert 1 <= len(emulator.api_requests("call")) <= 6  # at most one retry each, fewer once Twilio is down
    wait_for(lambda: any("500" in n for n in _moved_notes(rig, incident.id)), what="note naming the 500")


def test_twilio_timeout_fails_over_to_sip(rig_factory: Callable[..., TwilioRig], sqlite_url: str,
                                         emulator: Emulator, tmp_path: Path) -> None:
    sip = FakeSipPath()
    emulator.script(neighbour(1), "slow", kind="call")
    rig = rig_factory(sqlite_url, make_channels=_with_sip(sip), routes_file=_twilio_first(tmp_path),
                      down_retries=0, neighbours=1)
    incident = rig.press()
    wait_for(lambda: sip.sent_to() == [neighbour(1)], timeout=FAILOVER_WINDOW, what="call moved to SIP")
    wait_for(lambda: any("in time" in n for n in _moved_notes(rig, incident.id)), what="note naming the timeout")


def test_429_is_retried_on_the_same_path(rig: TwilioRig, emulator: Emulator) -> None:
    emulator.script(neighbour(1), "429", "429", "delivered", kind="sms")
    for i in range(1, 4):  # no acknowledgement by call that would stand the text down
        emulator.script(neighbour(i), "no-answer")
    incident = rig.press()
    wait_for(lambda: rig.statuses(incident.id, neighbour(1), "sms")[:1] == [LegStatus.DELIVERED],
             what="SMS delivered after two 429s")
    assert [r.outcome for r in emulator.api_requests("sms") if r.to == neighbour(1)][:3] == ["429", "429", "delivered"]

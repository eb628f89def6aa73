"""The failover channel over fake paths (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from callcenter.channels.errors import ChannelError, LegStoodDown, NoPathError, PathDown, ProviderRefused
from callcenter.channels.failover import FailoverChannel
from callcenter.channels.ports import HandBack, LegOrder
from callcenter.channels.routes import ChannelRoutes, PhoneKind
from callcenter.domain.messages import MessageFacts
from callcenter.domain.types import Actor, Channel, LegPurpose, Recipient

MOBILE, EXTENSION = "+8613900000001", "8001"
ROUTES = ChannelRoutes({(Channel.CALL, PhoneKind.MOBILE): ("sip", "twilio"),
                        (Channel.CALL, PhoneKind.EXTENSION): ("sip",)}, recheck_seconds=30)


@dataclass
class FakePath:
    name: str
    survives_restart: bool = False
    healthy: bool = True
    error: Exception | None = None
    sent: list[str] = field(default_factory=list)
    released: int = 0

    def send(self, order: LegOrder) -> str:
        if self.error is not None:
            raise self.error
        self.sent.append(order.leg_id)
        return f"{self.name}-{len(self.sent)}"

    def is_healthy(self) -> bool:
        return self.healthy

    def release_pending(self) -> int:
        self.released += 1
        return 0


@dataclass
class Notes:
    written: list[tuple[str, str]] = field(default_factory=list)

    def add_note(self, incident_id: str, text: str, actor: Actor) -> object:
        self.written.append((incident_id, text))
        return None


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _order(phone: str = MOBILE, incident: str = "i1", n: int = 1) -> LegOrder:
    facts = MessageFacts("张家", "张家村1号", "0717-6100000", datetime(2026, 3, 14, tzinfo=UTC), "火灾")
    return LegOrder(f"{incident}/{phone}/call/alert/{n}", incident, Channel.CALL, LegPurpose.ALERT, n,
                    Recipient("邻居", phone, "household_contact"), "text", facts)


def _channel(sip: FakePath, twilio: FakePath, clock: Clock | None = None) -> tuple[FailoverChannel, Notes]:
    notes = Notes()
    channel = FailoverChannel(Channel.CALL, ROUTES, {"sip": sip, "twilio": twilio}, notes, clock=clock or Clock())
    return channel, notes


def test_preferred_path_when_healthy() -> None:
    sip, twilio = FakePath("sip"), FakePath("twilio")
    channel, notes = _channel(sip, twilio)
    assert channel.send(_order()) == "sip:sip-1"
    assert twilio.sent == [] and notes.written == []


def test_path_down_moves_the_leg_releases_waiters_and_notes_once_per_incident() -> None:
    sip, twilio = FakePath("sip", error=PathDown("trunk 503")), FakePath("twilio")
    channel, notes = _channel(sip, twilio)
    assert channel.send(_order(n=1)) == "twilio:twilio-1"
    assert channel.send(_order(n=2)) == "twilio:twilio-2"
    assert sip.released == 1
    assert len(notes.written) == 1 and "trunk 503" in notes.written[0][1]
    channel.send(_order(incident="i2"))
    assert [i for i, _ in notes.written] == ["i1", "i2"]


def test_a_failed_path_is_skipped_until_the_recheck_time() -> None:
    clock = Clock()
    sip, twilio = FakePath("sip", error=ConnectionError("no route")), FakePath("twilio")
    channel, _ = _channel(sip, twilio, clock)
    channel.send(_order(n=1))
    sip.error = None
    channel.send(_order(n=2))
    assert sip.sent == []  # skipped: it failed a send 0 s ago
    clock.now = 31
    channel.check_health()
    channel.send(_order(n=3))
    assert sip.sent == [_order(n=3).leg_id]


def test_a_refusal_for_one_recipient_tries_the_next_path_but_keeps_the_first() -> None:
    sip, twilio = FakePath("sip", error=ProviderRefused("404 not found")), FakePath("twilio")
    channel, _ = _channel(sip, twilio)
    channel.send(_order())
    assert channel.usable("sip") and sip.released == 0 and len(twilio.sent) == 1


def test_unhealthy_path_found_by_the_monitor_releases_its_waiting_legs() -> None:
    sip, twilio = FakePath("sip"), FakePath("twilio")
    channel, _ = _channel(sip, twilio)
    sip.healthy = False
    channel.check_health()
    assert sip.released == 1
    channel.send(_order())
    assert twilio.sent and not sip.sent
    sip.healthy = True
    channel.check_health()
    channel.send(_order(n=2))
    assert sip.sent == [_order(n=2).leg_id]


def test_every_path_failing_raises_with_all_reasons() -> None:
    sip, twilio = FakePath("sip", error=PathDown("trunk 503")), FakePath("twilio", error=PathDown("Twilio 500"))
    channel, _ = _channel(sip, twilio)
    with pytest.raises(ChannelError, match=r"trunk 503.*Twilio 500"):
        channel.send(_order())


def test_a_number_without_a_path_is_refused() -> None:
    channel, _ = _channel(FakePath("sip"), FakePath("twilio"))
    with pytest.raises(NoPathError):
        channel.send(_order(phone="+867176123456"))


def test_survives_restart_only_if_every_path_does() -> None:
    assert not _channel(FakePath("sip"), FakePath("twilio", survives_restart=True))[0].survives_restart
    assert _channel(FakePath("sip", survives_restart=True), FakePath("twilio", survives_restart=True))[0] \
        .survives_restart


def test_a_stood_down_leg_is_not_tried_on_another_path() -> None:
    sip, twilio = FakePath("sip", error=LegStoodDown("quorum met")), FakePath("twilio")
    channel, notes = _channel(sip, twilio)
    with pytest.raises(LegStoodDown):
        channel.send(_order())
    assert twilio.sent == [] and channel.usable("sip") and notes.written == []


def test_after_close_sends_a_failing_send_is_not_moved_to_another_path() -> None:
    """Stopping: a send that gave up because its path closed stays unsent, on no other path, unnoted."""
    sip, twilio = FakePath("sip", error=PathDown("sip: closed: the service is stopping")), FakePath("twilio")
    channel, notes = _channel(sip, twilio)
    channel.close_sends()
    with pytest.raises(ChannelError, match="stopping"):
        channel.send(_order())
    assert twilio.sent == [] and notes.written == []


def test_a_message_kind_with_its_own_chain_goes_through_it() -> None:
    routes = ChannelRoutes({(Channel.CALL, PhoneKind.MOBILE): ("sip", "twilio")}, by_purpose={
        (Channel.CALL, PhoneKind.MOBILE, LegPurpose.CANCELLATION): ("twilio",)})
    sip, twilio = FakePath("sip"), FakePath("twilio")
    channel = FailoverChannel(Channel.CALL, routes, {"sip": sip, "twilio": twilio}, Notes(), clock=Clock())
    cancellation = LegOrder("i1/c", "i1", Channel.CALL, LegPurpose.CANCELLATION, 1,
                            Recipient("邻居", MOBILE, "household_contact"), "text", _order().facts)
    assert channel.send(cancellation) == "twilio:twilio-1"
    assert channel.send(_order()) == "sip:sip-1"
    twilio.error = ProviderRefused("blacklisted")
    with pytest.raises(ChannelError, match="blacklisted"):  # its chain has no other path to try
        channel.send(cancellation)
    assert sip.sent == ["i1/+8613900000001/call/alert/1"]


@dataclass
class QueueingPath(FakePath):
    """A path that takes legs now and may give them back later, as the SIP channel does."""

    hand_back: HandBack = field(default_factory=HandBack)


def test_a_queueing_path_hands_legs_back_to_the_failover_built_over_it() -> None:
    sip, twilio = QueueingPath("sip"), FakePath("twilio")
    with pytest.raises(NoPathError, match="no other path"):  # alone, a hand-back is loud
        sip.hand_back(_order(), "trunk 503")
    channel, _ = _channel(sip, twilio)
    assert sip.hand_back.connected
    sip.hand_back(_order(), "trunk 503")
    assert twilio.sent == [_order().leg_id] and not channel.usable("sip")
    with pytest.raises(ValueError, match="already hands"):
        FailoverChannel(Channel.CALL, ROUTES, {"sip": sip, "twilio": twilio}, Notes(), clock=Clock())

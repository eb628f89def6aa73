"""The SIP alert channel as a failover path: health, and legs handed back (no I/O, nothing dialled)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import pytest
from pyVoIP.VoIP import CallState, NoPortsAvailableError

from callcenter.channels.failover import FailoverChannel
from callcenter.domain.types import Channel, LegStatus
from callcenter.ivr.media import AnsweredLegHandler, LegDecided
from callcenter.service.ports import LegOrder
from callcenter.sip.channel import SipAlertChannel
from callcenter.sip.orphans import DialogIds
from callcenter.sip.phone import HardenedCall, HardenedPhone
from tests.unit.channels.test_failover import MOBILE, ROUTES, Clock, FakePath, Notes, _order


class NeverDials:
    def call(self, number: str, dialog: DialogIds | None = None) -> HardenedCall:
        raise AssertionError(f"no leg may be dialled in this test ({number})")


@dataclass
class Sink:
    outcomes: list[tuple[str, LegStatus, str]] = field(default_factory=list)

    def leg_outcome(self, leg_id: str, status: LegStatus, detail: str = "", provider_ref: str = "") -> None:
        self.outcomes.append((leg_id, status, detail))


def acknowledges(order: LegOrder, media: object, decided: LegDecided) -> LegStatus:
    return LegStatus.ACKNOWLEDGED


def _queued_channel(registered: list[bool], clock: Clock) -> tuple[SipAlertChannel, Sink]:
    """No free trunk channel: every sent leg waits in the queue."""
    sink = Sink()
    channel = SipAlertChannel(NeverDials(), acknowledges, max_channels=0,
                              sink=sink, registered=lambda: registered[0], trunk_recheck=30, clock=clock)
    return channel, sink


def test_health_follows_registration_and_a_recent_trunk_503() -> None:
    registered, clock = [True], Clock()
    channel, _ = _queued_channel(registered, clock)
    assert channel.is_healthy()
    registered[0] = False
    assert not channel.is_healthy()
    registered[0] = True
    channel.send(_order())
    channel._trunk_down(_order(), "sip-1", "sip: trunk answered 503 Service Unavailable")
    assert not channel.is_healthy() and "503" in channel.trunk_error
    clock.now = 30.0
    assert channel.is_healthy()


def test_released_legs_without_a_failover_channel_fail_so_the_engine_redials() -> None:
    channel, sink = _queued_channel([True], Clock())
    channel.send(_order(n=1))
    channel.send(_order(n=2))
    assert channel.release_pending() == 2
    assert len(channel.queue) == 0
    assert [(s, d.startswith("path down")) for _, s, d in sink.outcomes] == [(LegStatus.FAILED, True)] * 2


def test_failover_channel_resends_released_legs_once_on_the_next_path_with_a_note() -> None:
    registered, clock = [True], Clock()
    sip, sink = _queued_channel(registered, clock)
    twilio, notes = FakePath("twilio"), Notes()
    failover = FailoverChannel(Channel.CALL, ROUTES, {"sip": sip, "twilio": twilio}, notes, clock=clock)
    assert failover.send(_order(n=1)).startswith("sip:")
    assert failover.send(_order(n=2)).startswith("sip:")
    registered[0] = False
    failover.check_health()
    assert twilio.sent == [f"i1/{MOBILE}/call/alert/1", f"i1/{MOBILE}/call/alert/2"]
    assert len(sip.queue) == 0 and sink.outcomes == []
    assert len(notes.written) == 1 and "twilio" in notes.written[0][1]
    assert failover.send(_order(n=3)) == "twilio:twilio-3"  # new legs skip SIP while it is down
    registered[0] = True
    failover.check_health()
    assert failover.send(_order(n=4)).startswith("sip:")  # registered again: SIP at once


def test_a_leg_queued_just_after_the_trunk_refused_goes_to_the_next_path_undialled() -> None:
    """The race: the failover channel chose SIP for a leg just before a 503 arrived, and the leg reached
    the queue after the waiting ones had been released. When its slot frees it is handed on, not dialled."""
    clock = Clock()
    sip, sink = _queued_channel([True], clock)
    twilio = FakePath("twilio")
    FailoverChannel(Channel.CALL, ROUTES, {"sip": sip, "twilio": twilio}, Notes(), clock=clock)
    sip._trunk_down(_order(n=1), "sip-1", "sip: trunk answered 503 Service Unavailable")
    assert twilio.sent == [f"i1/{MOBILE}/call/alert/1"]
    sip.send(_order(n=2))  # the failover channel's SIP send, already under way
    sip.max_channels = 1
    sip.release_slots(0)  # leg 1's slot is free: the queue is pumped
    deadline = time.monotonic() + 5
    while len(twilio.sent) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert twilio.sent == [f"i1/{MOBILE}/call/alert/1", f"i1/{MOBILE}/call/alert/2"]
    assert sink.outcomes == []  # NeverDials would have failed leg 2 had it been dialled


def test_a_released_leg_no_path_takes_is_failed_not_lost() -> None:
    registered, clock = [True], Clock()
    sip, sink = _queued_channel(registered, clock)
    failover = FailoverChannel(Channel.CALL, ROUTES, {"sip": sip}, Notes(), clock=clock)
    failover.send(_order())
    registered[0] = False
    failover.check_health()
    assert [s for _, s, _ in sink.outcomes] == [LegStatus.FAILED]
    assert "path down" in sink.outcomes[0][2]


def test_a_closed_channel_dials_no_queued_leg_and_reports_nothing_for_them() -> None:
    """The phone is stopping: queued legs stay claimed for the next leader (no burst of failures)."""
    sink = Sink()
    channel = SipAlertChannel(NeverDials(), acknowledges, max_channels=1, sink=sink)
    channel.close()
    channel.send(_order(n=1))
    channel.send(_order(n=2))
    channel.release_slots(0)  # what a finished call does: pump the queue
    assert len(channel.queue) == 2 and channel.active_calls == 0 and sink.outcomes == []


def test_a_leg_whose_call_the_stopping_phone_ends_is_left_claimed_without_an_error(
        caplog: pytest.LogCaptureFixture) -> None:
    """SipService.stop closes the channel, then the phone's socket: a leg thread still at its call
    meets the closed socket. That is the stop, not a failed leg (no outcome, no error logged)."""
    sink = Sink()
    stopping = threading.Event()

    class StoppingPhone:
        def call(self, number: str, dialog: DialogIds | None = None) -> HardenedCall:
            channel.close()
            stopping.set()
            raise OSError(9, "Bad file descriptor")

    channel = SipAlertChannel(StoppingPhone(), acknowledges, max_channels=1,
                              sink=sink)
    with caplog.at_level(logging.INFO, logger="callcenter.sip.channel"):
        channel.send(_order())
        assert stopping.wait(5)
        deadline = time.monotonic() + 5
        while channel.active_calls and time.monotonic() < deadline:
            time.sleep(0.01)
    assert channel.active_calls == 0 and sink.outcomes == []
    assert [r.levelname for r in caplog.records] == ["INFO", "INFO"]  # the close, and the leg it ended
    assert "ended by the stopping phone" in caplog.records[-1].getMessage()


def test_a_call_whose_invite_cannot_leave_gives_its_rtp_port_back() -> None:
    """A stopped phone's socket is closed: the INVITE fails, and the port it took is free again."""
    phone = HardenedPhone("127.0.0.1", 5060, "995", "", "127.0.0.1", None, 0, 40000, 40001)

    def closed_socket(*args: object) -> None:
        raise OSError(9, "Bad file descriptor")

    phone.dialer.invite = closed_socket  # type: ignore[method-assign,assignment]
    for _ in range(3):  # two ports: a leak would run out on the third call
        with pytest.raises(OSError):
            phone.call("+8613800000001")
    assert phone.assignedPorts == []


def test_each_leg_is_prepared_as_it_is_dialled_and_a_failing_preparation_loses_no_call() -> None:
    """What the call will say is made ready while it rings (the announcement warmer); legs waiting for
    a trunk channel cost nothing yet."""
    sink = Sink()
    dialled: list[str] = []
    done = threading.Semaphore(0)

    class Unreachable:
        def call(self, number: str, dialog: DialogIds | None = None) -> HardenedCall:
            dialled.append(number)
            done.release()
            raise OSError(101, "Network is unreachable")

    channel = SipAlertChannel(Unreachable(), acknowledges, max_channels=0, sink=sink)
    prepared: list[str] = []

    def prepare(order: LegOrder) -> None:
        prepared.append(order.leg_id)
        if order.attempt == 1:
            raise OSError("espeak-ng: not found")
    channel.prepare = prepare
    channel.send(_order(n=1))  # no free trunk channel: nothing is dialled, nothing prepared
    channel.send(_order(n=2))
    assert prepared == []
    channel.max_channels = 1
    channel.release_slots(0)  # what a finished call does: pump the queue
    assert done.acquire(timeout=5) and done.acquire(timeout=5)
    assert prepared == [_order(n=1).leg_id, _order(n=2).leg_id]
    assert len(dialled) == 2


class AnsweredAtOnce:
    """A phone whose every call is answered at once (no wire): what the channel does after the answer."""

    def __init__(self) -> None:
        self.hung_up = threading.Event()

    def call(self, number: str, dialog: DialogIds | None = None) -> HardenedCall:
        phone = self

        class Answered:
            state, ringing, final_code, final_reason, number = CallState.ANSWERED, False, 200, "OK", "+8613907170002"

            def hangup(self) -> None:
                phone.hung_up.set()

        return Answered()  # type: ignore[return-value]


def _answered_leg(handler: AnsweredLegHandler) -> tuple[AnsweredAtOnce, Sink, SipAlertChannel]:
    phone, sink = AnsweredAtOnce(), Sink()
    channel = SipAlertChannel(phone, handler, max_channels=1, sink=sink)
    channel.send(_order())
    return phone, sink, channel


def _leg_ended(channel: SipAlertChannel) -> bool:
    """The leg's thread has given its trunk channel back: everything it reports is reported."""
    deadline = time.monotonic() + 5
    while channel.active_calls and time.monotonic() < deadline:
        time.sleep(0.01)
    return channel.active_calls == 0


def test_the_key_is_reported_while_the_call_goes_on_and_the_rest_of_the_call_cannot_change_it() -> None:
    confirmation_playing, call_may_end = threading.Event(), threading.Event()

    def handler(order: LegOrder, media: object, decided: LegDecided) -> LegStatus:
        decided(LegStatus.ACKNOWLEDGED, "pressed 1")
        confirmation_playing.set()
        assert call_may_end.wait(5)
        decided(LegStatus.DECLINED, "pressed 2")  # a second key during the thanks
        return LegStatus.ANSWERED_WITHOUT_KEY  # and a flow that ends as if nothing was pressed

    phone, sink, channel = _answered_leg(handler)
    assert confirmation_playing.wait(5)
    assert [s for _, s, _ in sink.outcomes] == [LegStatus.DIALING, LegStatus.ANSWERED, LegStatus.ACKNOWLEDGED]
    assert not phone.hung_up.is_set()  # the neighbour is still on the line, the key already counted
    call_may_end.set()
    assert _leg_ended(channel) and phone.hung_up.is_set()
    assert sink.outcomes[2:] == [(_order().leg_id, LegStatus.ACKNOWLEDGED, "pressed 1")]


def test_a_failure_after_the_key_leaves_the_key_standing() -> None:
    def handler(order: LegOrder, media: object, decided: LegDecided) -> LegStatus:
        decided(LegStatus.ACKNOWLEDGED, "pressed 1")
        raise OSError("the confirmation could not be synthesised")

    phone, sink, channel = _answered_leg(handler)
    assert _leg_ended(channel) and phone.hung_up.is_set()
    assert [s for _, s, _ in sink.outcomes] == [LegStatus.DIALING, LegStatus.ANSWERED, LegStatus.ACKNOWLEDGED]


def test_a_call_no_key_decided_ends_with_what_the_flow_returns() -> None:
    phone, sink, channel = _answered_leg(lambda order, media, decided: LegStatus.ANSWERED_WITHOUT_KEY)
    assert _leg_ended(channel) and phone.hung_up.is_set()
    assert [s for _, s, _ in sink.outcomes] == [LegStatus.DIALING, LegStatus.ANSWERED, LegStatus.ANSWERED_WITHOUT_KEY]


def test_a_leg_that_waited_for_a_trunk_channel_is_read_again_and_one_dialled_at_once_is_not() -> None:
    """The store is read before dialling only for a leg that waited (its incident may have stood it
    down meanwhile): reading every leg's incident again slowed the first calls of every press."""
    clock, asked, dialled, hang_up = Clock(), [], [], threading.Event()

    class Dials:
        def call(self, number: str, dialog: DialogIds | None = None) -> HardenedCall:
            dialled.append(number)
            hang_up.wait(5)  # the call holds the only trunk channel until the test ends it
            raise ConnectionError("nobody behind this test's trunk")

    def still_wanted(leg_id: str) -> bool:
        asked.append(leg_id)
        return False  # every leg was stood down meanwhile

    channel = SipAlertChannel(Dials(), acknowledges, max_channels=1, sink=Sink(), clock=clock,
                              still_wanted=still_wanted)
    first, second = _order(n=1), _order(n=2)
    channel.send(first)  # a free trunk channel: dialled at once, no store read
    channel.send(second)  # waits: the only channel is up
    wait_until = time.monotonic() + 5
    while not dialled and time.monotonic() < wait_until:
        time.sleep(0.01)
    clock.now = 1.0  # the second leg has now waited longer than WAITED_SECONDS
    hang_up.set()
    while not asked and time.monotonic() < wait_until:
        time.sleep(0.01)
    assert asked == [second.leg_id] and dialled == [MOBILE]  # read again, stood down: not dialled


def test_a_leg_that_finds_every_rtp_port_taken_waits_in_the_queue_and_is_dialled_once_one_frees() -> None:
    """In a flood the households' own calls hold the port range. A leg that finds no port was not put
    through: it must not be failed (the engine would count the neighbour as tried and climb a level)."""
    sink = Sink()
    dialled = threading.Event()

    class FullRange:
        tries = 0

        def call(self, number: str, dialog: DialogIds | None = None) -> HardenedCall:
            self.tries += 1
            if self.tries <= 2:  # two households hang up meanwhile
                raise NoPortsAvailableError("all RTP/RTCP port pairs 40000-40001 in use")
            dialled.set()
            raise OSError(101, "Network is unreachable")

    phone = FullRange()
    channel = SipAlertChannel(phone, acknowledges, max_channels=1, sink=sink)
    channel.send(_order(n=1))
    assert dialled.wait(5)
    deadline = time.monotonic() + 5
    while not sink.outcomes and time.monotonic() < deadline:
        time.sleep(0.01)
    assert phone.tries == 3 and channel.media_waits == 2
    assert [(s, d.split(":")[0]) for _, s, d in sink.outcomes] == [(LegStatus.FAILED, "OSError")]
    assert len(channel.queue) == 0 and channel.active_calls == 0

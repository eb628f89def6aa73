"""The send pacer with a real thread per waiting send and a clock the test moves."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from callcenter.channels.errors import LegStoodDown, ProviderDown
from callcenter.domain.messages import MessageFacts
from callcenter.domain.types import Channel, LegPurpose, Recipient
from callcenter.service.ports import LegOrder
from callcenter.twilio.channels import TwilioSmsChannel, WebhookUrls
from callcenter.twilio.pacing import PacerClosed, Rates, SendPacer, retry_delay

PRESS = datetime(2026, 3, 14, 1, 30, tzinfo=UTC)


class HandClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _start(pacer: SendPacer, priority: tuple[int, datetime], granted: list[str], name: str) -> threading.Thread:
    def run() -> None:
        try:
            slot = pacer.acquire(priority)
        except PacerClosed:
            granted.append(f"released:{name}")
            return
        granted.append(name)
        slot.done()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _wait_waiting(pacer: SendPacer, count: int) -> None:
    deadline = time.monotonic() + 5
    while pacer.waiting() != count:
        assert time.monotonic() < deadline, "waiters did not queue"
        time.sleep(0.005)


def test_most_urgent_first_then_oldest_press() -> None:
    clock = HandClock()
    pacer = SendPacer(["+1555"], Rates(1, 1), clock)
    pacer.acquire((0, PRESS)).done()  # the slot of this second is spent
    granted: list[str] = []
    threads = [
        _start(pacer, (0, PRESS + timedelta(seconds=5)), granted, "level0-late"),
        _start(pacer, (-2, PRESS + timedelta(seconds=9)), granted, "level2"),
        _start(pacer, (0, PRESS), granted, "level0-early"),
    ]
    _wait_waiting(pacer, 3)
    for expected in range(1, 4):
        clock.now += 1.0
        deadline = time.monotonic() + 5
        while len(granted) < expected:
            assert time.monotonic() < deadline
            time.sleep(0.005)
    for thread in threads:
        thread.join(timeout=5)
    assert granted == ["level2", "level0-early", "level0-late"]


def test_two_numbers_share_the_account_rate() -> None:
    clock = HandClock()
    pacer = SendPacer(["+1555", "+1556"], Rates(per_number=1, per_account=2), clock)
    first = pacer.acquire((0, PRESS))
    first.done()
    clock.now += 0.5  # the account's two per second are spaced half a second apart
    second = pacer.acquire((0, PRESS))
    second.done()
    assert {first.sender, second.sender} == {"+1555", "+1556"}  # the free number takes the second send
    clock.now += 0.4
    granted: list[str] = []
    thread = _start(pacer, (0, PRESS), granted, "third")
    _wait_waiting(pacer, 1)
    assert granted == []  # a second after the first send: neither number nor account is free yet
    clock.now += 0.1
    thread.join(timeout=5)
    assert granted == ["third"]


def test_a_send_still_on_its_way_holds_the_window() -> None:
    clock = HandClock()
    pacer = SendPacer(["+1555"], Rates(1, 1), clock)
    slow = pacer.acquire((0, PRESS))  # not done: it may still arrive at the provider
    clock.now += 5
    granted: list[str] = []
    thread = _start(pacer, (0, PRESS), granted, "next")
    _wait_waiting(pacer, 1)
    assert granted == []
    slow.done()
    clock.now += 1.0
    thread.join(timeout=5)
    assert granted == ["next"]


def test_a_slot_given_back_unused_goes_to_the_next_send_within_the_same_window() -> None:
    clock = HandClock()
    pacer = SendPacer(["+1555"], Rates(1, 1), clock)
    pacer.acquire((0, PRESS)).done()  # a real send at t=100
    clock.now += 1.0
    pacer.acquire((0, PRESS)).unused()  # its leg was stood down meanwhile: nothing left at t=101
    granted: list[str] = []
    thread = _start(pacer, (0, PRESS), granted, "next")
    thread.join(timeout=5)
    assert granted == ["next"]  # at t=101 still, not a second later
    granted.clear()
    clock.now += 0.5
    thread = _start(pacer, (0, PRESS), granted, "after")
    _wait_waiting(pacer, 1)
    assert granted == []  # the window of the send at t=101 holds as before
    clock.now += 0.5
    thread.join(timeout=5)
    assert granted == ["after"]


def test_release_makes_waiters_give_up() -> None:
    clock = HandClock()
    pacer = SendPacer(["+1555"], Rates(1, 1), clock)
    pacer.acquire((0, PRESS)).done()
    granted: list[str] = []
    threads = [_start(pacer, (0, PRESS), granted, f"w{i}") for i in range(3)]
    _wait_waiting(pacer, 3)
    assert pacer.release_waiting() == 3
    for thread in threads:
        thread.join(timeout=5)
    assert sorted(granted) == ["released:w0", "released:w1", "released:w2"]


def test_close_makes_waiters_and_later_sends_give_up() -> None:
    clock = HandClock()
    pacer = SendPacer(["+1555"], Rates(1, 1), clock)
    pacer.acquire((0, PRESS)).done()
    granted: list[str] = []
    thread = _start(pacer, (0, PRESS), granted, "w")
    _wait_waiting(pacer, 1)
    assert pacer.close() == 1
    thread.join(timeout=5)
    clock.now += 10  # a slot would be free now: still nothing is granted after the close
    with pytest.raises(PacerClosed, match="stopping"):
        pacer.acquire((0, PRESS))
    assert granted == ["released:w"]


def test_a_text_waiting_for_its_slot_when_the_service_stops_is_never_sent() -> None:
    clock, texts = HandClock(), Texts()
    channel = TwilioSmsChannel(texts, SendPacer(["+1555"], Rates(1, 1), clock), WebhookUrls("http://x"))
    channel.send(_text_to("+8613900000001"))
    failed: list[BaseException] = []

    def second() -> None:
        try:
            channel.send(_text_to("+8613900000002"))
        except ProviderDown as exc:
            failed.append(exc)

    sender = threading.Thread(target=second, daemon=True)
    sender.start()
    _wait_waiting(channel.pacer, 1)
    channel.close_sends()
    sender.join(timeout=5)
    clock.now += 10
    assert texts.sent == ["+8613900000001"] and len(failed) == 1


def test_rates_must_be_positive_and_senders_given() -> None:
    with pytest.raises(ValueError):
        Rates(0, 1)
    with pytest.raises(ValueError):
        SendPacer([], Rates(1, 1))


def test_back_off_doubles_up_to_a_cap() -> None:
    assert [retry_delay(n, 0.5) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


class Texts:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def create_call(self, to: str, sender: str, twiml_url: str, status_url: str, ring_seconds: int) -> str:
        raise AssertionError("no calls here")

    def create_message(self, to: str, sender: str, body: str, status_url: str) -> str:
        self.sent.append(to)
        return f"SM{len(self.sent)}"


def _text_to(phone: str) -> LegOrder:
    facts = MessageFacts("张家", "张家村1号", "0717-6100000", PRESS, "火灾")
    return LegOrder(f"i1/{phone}/sms/alert/1", "i1", Channel.SMS, LegPurpose.ALERT, 0,
                    Recipient("邻居", phone, "household_contact"), "text", facts)


def test_a_leg_stood_down_at_its_slot_costs_no_send_of_the_rate() -> None:
    clock, texts = HandClock(), Texts()
    stood_down = "+8613900000001"
    channel = TwilioSmsChannel(texts, SendPacer(["+1555"], Rates(1, 1), clock), WebhookUrls("http://x"),
                               still_wanted=lambda leg_id: stood_down not in leg_id)
    with pytest.raises(LegStoodDown):
        channel.send(_text_to(stood_down))
    sender = threading.Thread(target=channel.send, args=(_text_to("+8613900000002"),), daemon=True)
    sender.start()
    sender.join(timeout=5)  # the hand clock stands still: only a slot not spent lets it go
    assert texts.sent == ["+8613900000002"]

"""Toll-fraud guard: the pure decision, the cached directory question, the guarded channel and call-back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callcenter.adapters.fakes import FakeChannel, SteppingClock
from callcenter.domain.messages import MessageFacts
from callcenter.domain.types import Channel, LegPurpose, Recipient
from callcenter.service.callback import CallBackError, SimulatedCallBack
from callcenter.service.guard import (
    DestinationRefused,
    GuardedCallBack,
    GuardedChannel,
    KnownNumbers,
    destination_refusal,
    operator_phone_set,
)
from callcenter.service.ports import LegOrder
from contacts.phones import InvalidPhoneNumber, PhonePolicy

POLICY = PhonePolicy()
NEIGHBOUR, HOUSEHOLD_LINE, OPERATOR = "+8613800000002", "+867176123456", "+8613900009951"
STRANGER = "+8613700000099"  # a valid mobile number nobody in the directory has
PREMIUM = "+88216123456"  # a satellite number, the classic toll-fraud target: not even a valid number here


class CountingBook:
    """The directory as a set of numbers; counts how often it was asked."""

    def __init__(self, *numbers: str) -> None:
        self.numbers = set(numbers)
        self.asked: list[str] = []

    def is_known_number(self, number: str) -> bool:
        self.asked.append(number)
        return number in self.numbers


def _known(book: CountingBook, clock: SteppingClock | None = None) -> KnownNumbers:
    return KnownNumbers(book, frozenset({OPERATOR}), POLICY, clock or SteppingClock(), timedelta(seconds=60))


def _order(phone: str) -> LegOrder:
    clock = SteppingClock()
    facts = MessageFacts("张家", "张家村1号", HOUSEHOLD_LINE, clock.now(), "未知", "")
    return LegOrder(f"i1/{phone}/call/alert/1", "i1", Channel.CALL, LegPurpose.ALERT, 1,
                    Recipient("邻居", phone, "household_contact"), "救命", facts)


@pytest.mark.parametrize(("canonical", "operator", "directory", "refused"), [
    (None, False, False, "not a valid phone number"),
    (NEIGHBOUR, False, True, None),
    (OPERATOR, True, False, None),
    (STRANGER, False, False, "not in the directory nor a configured operator phone"),
])
def test_destination_refusal_decides_from_facts(canonical: str | None, operator: bool, directory: bool,
                                                refused: str | None) -> None:
    assert destination_refusal(canonical, operator, directory) == refused


def test_operator_phones_are_canonical_and_a_bad_one_stops_start_up() -> None:
    assert operator_phone_set(["13900009951"], POLICY) == frozenset({OPERATOR})
    with pytest.raises(InvalidPhoneNumber, match=r"guard\.operator_phones"):
        operator_phone_set(["call me"], POLICY)


def test_known_numbers_normalise_before_asking_the_directory() -> None:
    book = CountingBook(HOUSEHOLD_LINE)
    known = _known(book)
    assert known.refusal("0717-6123456") is None
    assert book.asked == [HOUSEHOLD_LINE]


def test_operator_phone_is_allowed_without_a_directory_query() -> None:
    book = CountingBook()
    assert _known(book).refusal(OPERATOR) is None
    assert book.asked == []


def test_garbage_is_refused_without_a_directory_query() -> None:
    book = CountingBook()
    assert _known(book).refusal("'; DROP TABLE responder;--") == "not a valid phone number"
    assert book.asked == []


def test_known_number_is_cached_until_its_time_to_live_ends() -> None:
    book, clock = CountingBook(NEIGHBOUR), SteppingClock()
    known = _known(book, clock)
    for _ in range(3):
        assert known.refusal(NEIGHBOUR) is None
    assert len(book.asked) == 1
    clock.advance(61)
    assert known.refusal(NEIGHBOUR) is None
    assert len(book.asked) == 2


def test_unknown_number_is_asked_again_so_a_new_responder_is_reached_at_once() -> None:
    book = CountingBook()
    known = _known(book)
    assert known.refusal(NEIGHBOUR) is not None
    book.numbers.add(NEIGHBOUR)
    assert known.refusal(NEIGHBOUR) is None
    assert len(book.asked) == 2


def test_cache_stays_bounded() -> None:
    numbers = [f"+86138000{i:05d}" for i in range(50)]
    known = KnownNumbers(CountingBook(*numbers), frozenset(), POLICY, SteppingClock(), max_entries=10)
    for number in numbers:
        assert known.refusal(number) is None
    assert len(known._known) <= 10


def test_guarded_channel_places_legs_to_known_numbers() -> None:
    inner = FakeChannel("fake-call")
    guarded = GuardedChannel(inner, _known(CountingBook(NEIGHBOUR)).refusal)
    assert (guarded.name, guarded.survives_restart) == ("fake-call", False)
    assert guarded.send(_order(NEIGHBOUR))
    assert inner.sent_to() == [NEIGHBOUR]


def test_guarded_channel_refuses_unknown_number_and_logs_it_masked(caplog: pytest.LogCaptureFixture) -> None:
    inner = FakeChannel("fake-call")
    guarded = GuardedChannel(inner, _known(CountingBook(NEIGHBOUR)).refusal)
    for number in (STRANGER, PREMIUM):
        with pytest.raises(DestinationRefused, match=r"toll-fraud guard refused call leg of incident i1 to \*+"):
            guarded.send(_order(number))
        assert number not in caplog.text and f"*{number[-4:]}" in caplog.text
    assert inner.orders == []


def test_guarded_call_back_rings_operator_then_known_household() -> None:
    inner = SimulatedCallBack()
    guarded = GuardedCallBack(inner, _known(CountingBook(HOUSEHOLD_LINE)))
    assert guarded.call_back(OPERATOR, HOUSEHOLD_LINE, "i1").startswith("simulated-callback-")
    assert inner.placed == [(OPERATOR, HOUSEHOLD_LINE, "i1")]


@pytest.mark.parametrize(("operator", "line", "named"), [
    (STRANGER, HOUSEHOLD_LINE, "the operator's phone"),
    (PREMIUM, HOUSEHOLD_LINE, "not a valid phone number"),
    (OPERATOR, STRANGER, "the household line"),
    ("", HOUSEHOLD_LINE, "no phone to ring first"),
])
def test_guarded_call_back_refuses_unknown_numbers(operator: str, line: str, named: str) -> None:
    inner = SimulatedCallBack()
    guarded = GuardedCallBack(inner, _known(CountingBook(HOUSEHOLD_LINE)))
    with pytest.raises(CallBackError, match=named):
        guarded.call_back(operator, line, "i1")
    assert inner.placed == []

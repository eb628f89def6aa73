"""RTP ports of ended calls rest before they are handed out again (their sockets close a little later)."""

from __future__ import annotations

from callcenter.sip.phone import PORT_REST_SECONDS, _rested


def test_a_port_just_released_is_not_chosen_while_a_rested_one_is_free() -> None:
    now = 1000.0
    released = {10000: now - 0.5, 10002: now - PORT_REST_SECONDS - 1}
    assert _rested([10000, 10002, 10004], released, now) == [10002, 10004]


def test_a_port_rests_for_the_whole_period_then_is_chosen_again() -> None:
    released = {10000: 100.0}
    assert _rested([10000, 10002], released, 100.0 + PORT_REST_SECONDS - 0.01) == [10002]
    assert _rested([10000, 10002], released, 100.0 + PORT_REST_SECONDS) == [10000, 10002]


def test_when_every_free_port_was_just_released_they_are_still_used() -> None:
    released = {10000: 99.0, 10002: 99.5}
    assert _rested([10000, 10002], released, 100.0) == [10000, 10002]

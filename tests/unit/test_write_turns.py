"""Turns at writing: at most N units of work at once; waiting presses first, then recovery, then commands."""

from __future__ import annotations

import threading
import time

import pytest

from callcenter.service.write_turns import Turn, WriteTurns

WAIT = 5.0


def _hold(turns: WriteTurns, tier: Turn, order: list[str], name: str, release: threading.Event,
          entered: threading.Event | None = None) -> threading.Thread:
    def run() -> None:
        with turns.turn(tier):
            order.append(name)
            if entered is not None:
                entered.set()
            release.wait(WAIT)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _wait_until(check: object, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.005)
    assert check(), "condition not reached"  # type: ignore[operator]


def test_no_more_than_the_slots_write_at_once() -> None:
    turns, order, release = WriteTurns(2), [], threading.Event()
    threads = [_hold(turns, Turn.COMMAND, order, f"command{n}", release) for n in range(5)]
    _wait_until(lambda: len(order) == 2)
    time.sleep(0.05)
    assert len(order) == 2 and turns.writing == 2
    release.set()
    for thread in threads:
        thread.join(WAIT)
    assert len(order) == 5 and turns.writing == 0


def test_a_waiting_press_goes_before_every_waiting_command() -> None:
    turns, order = WriteTurns(1), []
    first_done, rest_done, entered = threading.Event(), threading.Event(), threading.Event()
    first = _hold(turns, Turn.COMMAND, order, "writing", first_done, entered)
    assert entered.wait(WAIT)
    commands = [_hold(turns, Turn.COMMAND, order, f"command{n}", rest_done) for n in range(3)]
    time.sleep(0.05)  # the commands are waiting
    press = _hold(turns, Turn.PRESS, order, "press", rest_done)
    time.sleep(0.05)
    rest_done.set()
    first_done.set()
    for thread in (first, press, *commands):
        thread.join(WAIT)
    assert order[:2] == ["writing", "press"]
    assert sorted(order[2:]) == ["command0", "command1", "command2"]


def test_slots_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WriteTurns(0)


def test_waiters_get_their_turn_by_tier_then_oldest_first() -> None:
    turns, order = WriteTurns(1), []
    hold, go, entered = threading.Event(), threading.Event(), threading.Event()
    first = _hold(turns, Turn.COMMAND, order, "writing", hold, entered)
    assert entered.wait(WAIT)
    waiting = []
    for name, tier in (("command0", Turn.COMMAND), ("recovery0", Turn.RECOVERY), ("press0", Turn.PRESS),
                       ("command1", Turn.COMMAND), ("recovery1", Turn.RECOVERY), ("press1", Turn.PRESS)):
        waiting.append(_hold(turns, tier, order, name, go))
        _wait_until(lambda n=len(waiting): sum(turns.waiting(t) for t in Turn) == n)
    go.set()
    hold.set()
    for thread in (first, *waiting):
        thread.join(WAIT)
    assert order == ["writing", "press0", "press1", "recovery0", "recovery1", "command0", "command1"]
    assert turns.writing == 0


def test_a_failed_write_passes_its_turn_on() -> None:
    turns = WriteTurns(1)
    with pytest.raises(RuntimeError), turns.turn():
        raise RuntimeError("write failed")
    with turns.turn(Turn.PRESS):
        assert turns.writing == 1
    assert turns.writing == 0

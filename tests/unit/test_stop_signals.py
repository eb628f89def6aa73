"""A stop signal that lands inside a finalizer is not lost (callcenter/stop_signals.py)."""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Iterator

import pytest

from callcenter.stop_signals import StopSignals


@pytest.fixture
def sigusr1() -> Iterator[signal.Signals]:
    previous = signal.getsignal(signal.SIGUSR1)
    yield signal.SIGUSR1
    signal.signal(signal.SIGUSR1, previous)


def test_a_signal_raises_its_stop_at_once(sigusr1: signal.Signals) -> None:
    stops = StopSignals(lambda signum: SystemExit(128 + signum)).install([sigusr1])
    with pytest.raises(SystemExit) as stopped:
        os.kill(os.getpid(), sigusr1)
        for _ in range(1000):  # the handler runs between two bytecodes of this loop
            pass
    assert stopped.value.code == 128 + sigusr1 and stops.received == sigusr1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed SystemExit
def test_a_stop_swallowed_by_a_finalizer_is_raised_at_the_next_safe_point(sigusr1: signal.Signals) -> None:
    stops = StopSignals(lambda signum: SystemExit(128 + signum)).install([sigusr1])
    ran: list[bool] = []

    class Finalized:
        other: object = None

        def __del__(self) -> None:
            os.kill(os.getpid(), sigusr1)
            for _ in range(1000):
                pass
            ran.append(True)  # not reached: the handler's SystemExit ended this finalizer

    first, second = Finalized(), Finalized()
    first.other, second.other = second, first
    del first, second
    gc.collect()  # the SystemExit is raised inside __del__, where Python only reports it as unraisable
    assert ran == [] and stops.received == sigusr1
    with pytest.raises(SystemExit) as stopped:
        stops.raise_if_received()
    assert stopped.value.code == 128 + sigusr1


def test_nothing_is_raised_without_a_signal() -> None:
    StopSignals(lambda signum: SystemExit(signum)).raise_if_received()

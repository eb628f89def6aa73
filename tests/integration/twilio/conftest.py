"""Fixtures of the Twilio integration tests (the rig itself is in rig.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.twilio.rig import TwilioRig, build_rig
from tests.twilio_emulator import Emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(slow_seconds=2.0) as running:
        yield running


@pytest.fixture
def rig_factory(emulator: Emulator, tmp_path: Path) -> Iterator[Callable[..., TwilioRig]]:
    rigs: list[TwilioRig] = []

    def make(database_url: str, **kwargs: Any) -> TwilioRig:
        rig = build_rig(database_url, tmp_path, emulator, **kwargs)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        for stop in rig.stops:
            stop()


@pytest.fixture
def rig(rig_factory: Callable[..., TwilioRig], sqlite_url: str) -> TwilioRig:
    return rig_factory(sqlite_url)

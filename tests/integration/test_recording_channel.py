"""The recording channel: every placement is in the log, fsynced, before the channel replies."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callcenter.adapters.recording import PlacementLog, recording_phones
from callcenter.domain.messages import MessageFacts
from callcenter.domain.types import Channel, LegPurpose, LegStatus, Recipient
from callcenter.service.ports import LegOrder

pytestmark = pytest.mark.timeout(30)


def order(leg_id: str, channel: Channel = Channel.CALL, attempt: int = 1) -> LegOrder:
    facts = MessageFacts("张家", "一组1号", "0717-6123456", datetime(2026, 6, 1, tzinfo=UTC), "未分类", "")
    return LegOrder(leg_id, "I1", channel, LegPurpose.ALERT, attempt, Recipient("李四", "+8613800000001", "neighbour"),
                    "text", facts)


class Sink:
    def __init__(self) -> None:
        self.outcomes: list[tuple[str, LegStatus]] = []
        self.final = threading.Event()

    def leg_outcome(self, leg_id: str, status: LegStatus, detail: str = "", provider_ref: str = "") -> None:
        self.outcomes.append((leg_id, status))
        if status.is_final:
            self.final.set()


def test_the_placement_is_logged_before_the_reference_comes_back(tmp_path: Path) -> None:
    log = PlacementLog(tmp_path / "placements.jsonl")
    seen_in_log: list[list[str]] = []
    phones = recording_phones(Channel.CALL, log, time_scale=0.01)
    phones.sink = Sink()
    before = time.time()
    ref = phones.send(order("I1/a/call/alert/1"))
    seen_in_log.append([p["leg"] for p in log.read()])
    assert ref.startswith("sim-") and seen_in_log == [["I1/a/call/alert/1"]]
    assert log.read()[0]["attempt"] == 1 and log.read()[0]["channel"] == "call"
    assert before <= log.read()[0]["at"] <= time.time()  # when it was placed, for the crash benchmark
    assert phones.sink.final.wait(5)  # and the scripted outcome still arrives
    assert phones.name == "recording-call" and phones.survives_restart is False


def test_concurrent_placements_are_whole_lines(tmp_path: Path) -> None:
    log = PlacementLog(tmp_path / "placements.jsonl")
    phones = recording_phones(Channel.SMS, log, time_scale=0.001)
    threads = [threading.Thread(target=phones.send, args=(order(f"I1/r{i}/sms/alert/1", Channel.SMS),))
               for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(p["leg"] for p in log.read()) == sorted(f"I1/r{i}/sms/alert/1" for i in range(40))

"""Each incident's alert announcement is rendered once, in the background, as its first leg is queued."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from test_ivr_handlers import FLOWS, order

from callcenter.ivr.engine import Say
from callcenter.ivr.fakes import FakeSynthesizer
from callcenter.ivr.handlers import warm_alert_audio
from callcenter.ivr.prompts import PromptLibrary, PromptSource
from callcenter.ivr.warmer import AnnouncementWarmer
from callcenter.service.ports import LegOrder


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.rendered: list[LegOrder] = []
        self.done = threading.Semaphore(0)
        self.fail = fail

    def __call__(self, leg: LegOrder) -> None:
        self.rendered.append(leg)
        self.done.release()
        if self.fail:
            raise OSError("espeak-ng: not found")


def test_an_incidents_legs_ask_once_and_a_new_type_asks_again() -> None:
    recorder = Recorder()
    warmer = AnnouncementWarmer(recorder)
    first = order()
    for neighbour in range(10):
        warmer(dataclasses.replace(first, leg_id=f"{first.leg_id}/{neighbour}"))
    retyped = dataclasses.replace(first, facts=dataclasses.replace(first.facts, emergency_type="医疗"))
    warmer(retyped)  # the household chose a type: the announcement's words changed
    assert recorder.done.acquire(timeout=5) and recorder.done.acquire(timeout=5)
    warmer.close()
    assert [leg.facts.emergency_type for leg in recorder.rendered] == ["火灾", "医疗"]
    assert warmer.rendered == 2


def test_a_failing_rendering_is_logged_and_the_next_incident_is_still_rendered(caplog: object) -> None:
    recorder = Recorder(fail=True)
    warmer = AnnouncementWarmer(recorder)
    warmer(order())
    warmer(dataclasses.replace(order(), incident_id="20260314-013000-bbbbbb"))
    assert recorder.done.acquire(timeout=5) and recorder.done.acquire(timeout=5)
    warmer.close()
    assert len(recorder.rendered) == 2 and warmer.rendered == 0


def test_the_answered_call_finds_the_announcement_cached(tmp_path: Path) -> None:
    synthesizer = FakeSynthesizer()
    library = PromptLibrary(synthesizer, tmp_path / "cache", tmp_path / "prompts", FLOWS.prompts())
    recorder = Recorder()
    warmer = AnnouncementWarmer(lambda leg: (warm_alert_audio(library, FLOWS, leg), recorder(leg)))
    warmer(order())
    assert recorder.done.acquire(timeout=5)
    warmer.close()
    spoken = list(synthesizer.spoken)
    assert spoken and len(set(spoken)) == len(spoken)  # each text synthesised once
    assert library._speech_file(spoken[0])[1] is PromptSource.CACHED
    library.audio(Say(spoken[0]))
    assert synthesizer.spoken == spoken  # nothing rendered again

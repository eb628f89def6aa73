"""IVR speed: how long a responder waits for an alert's announcement, and what the flow engine costs.

    .venv/bin/python -m bench.ivr [--texts 20] [--flows 2000]

Prints, side by side: synthesising an announcement at call time (espeak-ng + sox, a fresh text each
time) against reading the same audio from the disk cache and from memory, with the audio's own
length as the reference it must stay far below; then the pure engine and the runner over a fake
call (virtual time) per alert flow.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.common import ROOT, Latency, machine
from callcenter.domain.messages import MessageFacts
from callcenter.domain.types import Channel, LegPurpose, LegStatus, Recipient
from callcenter.ivr.engine import Digits, FlowEngine, Say, TimedOut
from callcenter.ivr.fakes import FakeCallMedia, FakePromptAudio
from callcenter.ivr.flowfile import ALERT_FLOW, load_flows
from callcenter.ivr.handlers import alert_handler, base_facts
from callcenter.ivr.prompts import PromptLibrary
from callcenter.ivr.speech import EspeakSynthesizer
from callcenter.service.ports import LegOrder

FLOWS = load_flows(ROOT / "ivr_flows")


def order() -> LegOrder:
    facts = MessageFacts(label="张建国家", address="张家口村3组12号", caller="139 0717 0001",
                         pressed_at=datetime(2026, 3, 14, 1, 30, tzinfo=UTC), emergency_type="火灾")
    return LegOrder("I1/1", "I1", Channel.CALL, LegPurpose.ALERT, 1,
                    Recipient("李秀英", "+8613907170002", "household_contact"), "", facts)


def timed(run: Callable[[], object], times: int) -> Latency:
    samples: list[int] = []
    start = time.perf_counter()
    for _ in range(times):
        began = time.perf_counter_ns()
        run()
        samples.append(time.perf_counter_ns() - began)
    return Latency.of(samples, time.perf_counter() - start)


def announcements(count: int) -> list[Say]:
    return [Say(f"这里是九九五紧急求助。张家口村三组 第{n}户，地址：张家口村3组{n}号，发生火灾，需要帮助。")
            for n in range(count)]


def speech_rows(count: int, cache: Path) -> list[tuple[str, Latency]]:
    texts = announcements(count)
    fresh = PromptLibrary(EspeakSynthesizer(), cache, cache / "none", {})
    pending = iter(texts)
    cold = timed(lambda: fresh.audio(next(pending)), count)
    audio_seconds = sum(len(fresh.audio(t)) for t in texts) / 8000 / count
    disk = PromptLibrary(EspeakSynthesizer(), cache, cache / "none", {})  # new process: empty memory
    pending = iter(texts)
    cached = timed(lambda: disk.audio(next(pending)), count)
    hot = timed(lambda: disk.audio(texts[0]), count * 10)
    reference = Latency(count, audio_seconds * 1000, audio_seconds * 1000, audio_seconds * 1000, 0.0)
    return [("synthesised at call time", cold), ("read from the disk cache", cached),
            ("read from memory", hot), ("reference: the audio's own length", reference)]


def engine_rows(count: int) -> list[tuple[str, Latency]]:
    engine = FlowEngine(FLOWS[ALERT_FLOW])
    facts = {**base_facts("13907170001"), "label": "张建国家", "address": "张家口村3组12号"}

    def pure_flow() -> None:
        turn = engine.start(facts)
        turn = engine.handle(turn.state, TimedOut(), facts)
        engine.handle(turn.state, Digits("1"), facts)

    handler = alert_handler(FakePromptAudio(), FLOWS)
    leg = order()
    return [("pure engine: announce, no key, repeat, 1", timed(pure_flow, count)),
            ("runner over FakeCallMedia: the same call", timed(
                lambda: handler(leg, FakeCallMedia(digits=[(40.0, "1")]), _ignore), count))]


def _ignore(status: LegStatus, detail: str) -> None:
    """The channel's outcome sink; the bench times the flow, not the storage."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=20)
    parser.add_argument("--flows", type=int, default=2000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-ivr-") as tmp:
        rows = speech_rows(args.texts, Path(tmp))
    rows += engine_rows(args.flows)
    print("| what | n | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|")
    for name, lat in rows:
        print(f"| {name} | {lat.count} | {lat.p50_ms:.3f} | {lat.p99_ms:.3f} | {lat.max_ms:.3f} |")


if __name__ == "__main__":
    main()

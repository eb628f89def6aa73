"""The leader's sweep: recovery once per leadership, then a check for legs of instances that died since."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from callcenter.adapters.runtime import EngineRuntime
from callcenter.service.degraded import WithoutDegradedMode


@dataclass
class Engine:
    calls: list[str] = field(default_factory=list)
    outage: WithoutDegradedMode = field(default_factory=WithoutDegradedMode)  # nothing spooled to replay

    def recover(self, dead: Any) -> int:
        self.calls.append("recover")
        return 0

    def interrupt_dead(self, dead: Any) -> int:
        self.calls.append(f"interrupt_dead:{dead('gone#1')}")
        return 1

    def dispatch_due(self) -> int:
        self.calls.append("dispatch_due")
        return 0

    def escalate_due(self) -> int:
        self.calls.append("escalate_due")
        return 0

    def send_summaries(self) -> int:
        self.calls.append("send_summaries")
        return 0


def runtime(leading: bool) -> tuple[EngineRuntime, Engine]:
    engine = Engine()
    leadership = SimpleNamespace(holder="me#1", is_dead=lambda holder: holder == "gone#1")
    made = EngineRuntime(engine, scheduler=None, timers=SimpleNamespace(leading=leading),  # type: ignore[arg-type]
                         leadership=leadership, recover_in_background=False)  # type: ignore[arg-type]
    return made, engine


def test_after_recovery_every_sweep_looks_for_legs_of_dead_instances() -> None:
    made, engine = runtime(leading=True)
    made._sweep()
    made._sweep()
    assert engine.calls == ["recover", "dispatch_due", "escalate_due", "send_summaries",
                            "interrupt_dead:True", "dispatch_due", "escalate_due", "send_summaries"]


def test_a_standby_instance_sweeps_nothing() -> None:
    made, engine = runtime(leading=False)
    made._sweep()
    assert engine.calls == []


class SlowRecovery(Engine):
    """Recovers only when the test lets it."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()

    def recover(self, dead: Any) -> int:
        assert self.go.wait(5)
        return super().recover(dead)


def test_recovery_runs_beside_start_up_and_a_sweep_meanwhile_does_not_start_another() -> None:
    engine = SlowRecovery()
    leadership = SimpleNamespace(holder="me#1", is_dead=lambda holder: holder == "gone#1")
    made = EngineRuntime(engine, scheduler=None, timers=SimpleNamespace(leading=False),  # type: ignore[arg-type]
                         leadership=leadership)  # type: ignore[arg-type]
    made._became_leader()  # returns at once: the lease tick (and start-up) does not wait
    made._sweep()  # while recovering: neither a second recovery nor the leader's dispatch
    assert engine.calls == [] and not made.recovered.is_set()
    engine.go.set()
    assert made.recovered.wait(5)
    made._sweep()
    assert engine.calls == ["recover", "interrupt_dead:True", "dispatch_due", "escalate_due", "send_summaries"]


def test_a_recovery_that_ends_after_the_lease_was_lost_and_taken_again_does_not_count() -> None:
    engine = SlowRecovery()
    leadership = SimpleNamespace(holder="me#1", is_dead=lambda holder: holder == "gone#1")
    made = EngineRuntime(engine, scheduler=None, timers=SimpleNamespace(leading=False),  # type: ignore[arg-type]
                         leadership=leadership)  # type: ignore[arg-type]
    made._became_leader()
    made.timers.clear = lambda: None  # type: ignore[attr-defined]
    made._lost_leadership()
    made._became_leader()  # the first recovery still runs: no second one now
    engine.go.set()
    assert made._recovery is not None
    made._recovery.join(5)
    assert engine.calls == ["recover"] and not made.recovered.is_set()
    made._sweep()  # this leadership's own recovery
    assert made.recovered.wait(5) and engine.calls[:2] == ["recover", "recover"]

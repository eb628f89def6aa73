"""Timers on the real APScheduler 3.11 BackgroundScheduler, and timers rebuilt from the database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from test_engine_sql import CALLER, Rig, make_rig

from callcenter.adapters.fakes import SteppingClock
from callcenter.adapters.runtime import EngineRuntime
from callcenter.adapters.scheduler import ApschedulerTimers, Leadership, add_periodic, new_scheduler
from callcenter.domain.types import CallerTrust
from callcenter.service.ports import Timer

pytestmark = pytest.mark.timeout(60)


class Target:
    """Records every firing; can re-arm a timer from inside a firing, as the engine does."""

    def __init__(self) -> None:
        self.fired: list[tuple[str, int, int]] = []
        self.changed = threading.Condition()
        self.rearm: tuple[ApschedulerTimers, Timer] | None = None
        self.hold: threading.Event | None = None  # set: firings wait for it after recording

    def escalation_timer(self, incident_id: str, level: int, token: int) -> None:
        self._record((incident_id, level, token))
        if self.hold is not None:
            self.hold.wait(10)
        if self.rearm is not None:
            timers, timer = self.rearm
            self.rearm = None
            timers.schedule(timer)
            time.sleep(0.3)  # still running when the re-armed timer falls due

    def leg_timer(self, incident_id: str) -> None:
        self._record((incident_id, -1, -1))

    def _record(self, item: tuple[str, int, int]) -> None:
        with self.changed:
            self.fired.append(item)
            self.changed.notify_all()

    def wait(self, count: int, timeout: float = 10) -> list[tuple[str, int, int]]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.fired) >= count, timeout)
            return list(self.fired)


@pytest.fixture
def rig(database_url: str) -> Iterator[Rig]:
    yield from make_rig(database_url)


@pytest.fixture
def scheduler() -> Iterator[BackgroundScheduler]:
    scheduler = new_scheduler()
    scheduler.start()
    yield scheduler
    scheduler.shutdown(wait=False)


@pytest.fixture
def timers(scheduler: BackgroundScheduler) -> tuple[ApschedulerTimers, Target]:
    timers, target = ApschedulerTimers(scheduler), Target()
    timers.target, timers.leading = target, True
    return timers, target


def gone(scheduler: BackgroundScheduler, job_id: str, timeout: float = 5) -> bool:
    """A date job leaves the store once it has fired (waiting also keeps teardown off its heels)."""
    deadline = time.monotonic() + timeout
    while scheduler.get_job(job_id) is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    return scheduler.get_job(job_id) is None


def soon(seconds: float = 0.2) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_jobs_have_stable_ids_and_the_latest_schedule_replaces_the_earlier(
    timers: tuple[ApschedulerTimers, Target], scheduler: BackgroundScheduler,
) -> None:
    t, target = timers
    t.schedule(Timer("escalate:A", soon(5), "escalate", "A", level=1, token=1))
    t.schedule(Timer("escalate:A", soon(0.2), "escalate", "A", level=2, token=2))
    assert [job.id for job in scheduler.get_jobs() if job.id.startswith("escalate:")] == ["escalate:A"]
    job = scheduler.get_job("escalate:A")
    assert job is not None and job.misfire_grace_time is None
    assert target.wait(1) == [("A", 2, 2)]
    assert gone(scheduler, "escalate:A")
    time.sleep(0.3)
    assert target.fired == [("A", 2, 2)]


def test_a_timer_long_overdue_still_fires(
    timers: tuple[ApschedulerTimers, Target], scheduler: BackgroundScheduler,
) -> None:
    t, target = timers
    t.schedule(Timer("escalate:B", datetime.now(UTC) - timedelta(hours=1), "escalate", "B", level=1, token=7))
    assert target.wait(1) == [("B", 1, 7)]
    assert gone(scheduler, "escalate:B")


def test_cancel_and_clear_remove_timers_but_not_the_periodic_jobs(
    timers: tuple[ApschedulerTimers, Target], scheduler: BackgroundScheduler,
) -> None:
    t, target = timers
    add_periodic(scheduler, "sweep", 60, lambda: None)
    t.schedule(Timer("escalate:C", soon(0.3), "escalate", "C", level=1))
    t.schedule(Timer("leg:C/x/call/alert/1", soon(0.3), "leg_due", "C", leg_id="C/x/call/alert/1"))
    t.schedule(Timer("leg:C/y/call/alert/1", soon(0.3), "leg_due", "C", leg_id="C/y/call/alert/1"))
    t.cancel("escalate:C")
    t.cancel("escalate:never-scheduled")
    t.clear()
    assert [job.id for job in scheduler.get_jobs()] == ["sweep"]
    time.sleep(0.6)
    assert target.fired == []


def test_an_instance_that_does_not_lead_schedules_nothing(
    timers: tuple[ApschedulerTimers, Target], scheduler: BackgroundScheduler,
) -> None:
    t, target = timers
    t.leading = False
    t.schedule(Timer("escalate:D", soon(0.1), "escalate", "D", level=1))
    assert scheduler.get_jobs() == []
    time.sleep(0.3)
    assert target.fired == []


def test_a_timer_re_armed_by_its_own_firing_and_due_at_once_still_fires(
    timers: tuple[ApschedulerTimers, Target],
) -> None:
    t, target = timers
    target.rearm = (t, Timer("escalate:E", datetime.now(UTC), "escalate", "E", level=2, token=2))
    t.schedule(Timer("escalate:E", soon(0.1), "escalate", "E", level=1, token=1))
    assert target.wait(2) == [("E", 1, 1), ("E", 2, 2)]
    assert gone(timers[0]._scheduler, "escalate:E")


def skipped(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]


def test_a_timer_due_again_while_it_still_fires_runs_once_more_after_never_skipped(
    timers: tuple[ApschedulerTimers, Target], scheduler: BackgroundScheduler, caplog: pytest.LogCaptureFixture,
) -> None:
    """A firing that waits (for its write turn, in a flood) while its id is re-armed and due again
    ten times: the latest timer runs once after it, none is dropped, nothing is logged as skipped."""
    t, target = timers
    target.hold = threading.Event()
    t.schedule(Timer("escalate:G", datetime.now(UTC), "escalate", "G", level=1, token=1))
    assert target.wait(1) == [("G", 1, 1)]
    for token in range(2, 12):
        t.schedule(Timer("escalate:G", datetime.now(UTC), "escalate", "G", level=1, token=token))
        assert gone(scheduler, "escalate:G")
    time.sleep(0.2)
    assert target.fired == [("G", 1, 1)]  # still the first firing; the others wait for it
    target.hold.set()
    assert target.wait(2) == [("G", 1, 1), ("G", 1, 11)]
    time.sleep(0.3)
    assert target.fired == [("G", 1, 1), ("G", 1, 11)]
    assert skipped(caplog) == []


def test_a_periodic_job_still_running_is_not_started_again_and_nothing_is_logged(
    scheduler: BackgroundScheduler, caplog: pytest.LogCaptureFixture,
) -> None:
    runs: list[float] = []
    release = threading.Event()

    def slow() -> None:
        runs.append(time.monotonic())
        release.wait(10)

    add_periodic(scheduler, "slow", 0.05, slow)
    time.sleep(0.6)  # about twelve intervals while the first run goes on
    assert len(runs) == 1
    release.set()
    deadline = time.monotonic() + 5
    while len(runs) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(runs) >= 2
    assert skipped(caplog) == []


def test_timers_are_rebuilt_from_the_database_when_an_instance_starts_to_lead(rig: Rig) -> None:
    """An incident stored by an instance that died: the new leader arms its escalation and redials."""
    rig.calls.refuse.add("+8613900000003")  # fails at once: a redial is planned for 30 s later
    rig.clock = SteppingClock(datetime.now(UTC))
    rig.engine.clock = rig.clock
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    stored = rig.store.incident_row(incident.id)

    scheduler = new_scheduler()
    timers = ApschedulerTimers(scheduler)
    rig.engine.timers = timers
    leases = Leadership(rig.store, rig.clock, "test#1")
    runtime = EngineRuntime(rig.engine, scheduler, timers, leases)
    runtime.start()
    try:
        assert runtime.recovered.wait(10)  # recovery runs beside start-up
        escalate = scheduler.get_job(f"escalate:{incident.id}")
        assert escalate is not None
        assert escalate.next_run_time == stored.next_escalation_at
        assert escalate.args[0] == Timer(f"escalate:{incident.id}", stored.next_escalation_at, "escalate",
                                         incident.id, level=1, token=stored.escalation_token)
        redial = next(r for r in rig.store.legs(incident.id) if r.attempt == 2)
        leg_timers = [job for job in scheduler.get_jobs() if job.id.startswith("leg:")]
        assert [(job.id, job.next_run_time) for job in leg_timers] == [(f"leg:{incident.id}", redial.due_at)]
        assert {job.id for job in scheduler.get_jobs()} >= {"lease", "sweep", "audit"}
    finally:
        runtime.stop()


def test_a_stopped_scheduler_takes_no_more_timers() -> None:
    """Commands finishing after a stop re-arm timers; APScheduler would keep each in a pending list
    searched line by line on every later lookup (a flood's stop then took minutes of CPU)."""
    scheduler = new_scheduler()
    scheduler.start()
    timers = ApschedulerTimers(scheduler)
    timers.leading = True
    scheduler.shutdown(wait=False)
    for n in range(50):
        timers.schedule(Timer(f"escalate:S{n}", datetime.now(UTC) + timedelta(minutes=1), "escalate", f"S{n}",
                              level=1, token=1))
    assert scheduler.get_jobs() == []


def test_an_instance_publishes_its_contact_with_its_heartbeat_and_a_survivor_still_reads_it(rig: Rig) -> None:
    """The alert socket's address is what a survivor needs to cancel the calls a dead instance left ringing."""
    dead = Leadership(rig.store, rig.clock, "a#1")
    dead.contact = lambda: "127.0.0.1:5071"
    dead.tick()
    assert rig.store.contact_of("a#1") == "127.0.0.1:5071"
    dead.contact = lambda: "127.0.0.1:5072"  # each heartbeat writes it again
    dead.tick()
    assert rig.store.contact_of("a#1") == "127.0.0.1:5072"

    rig.clock.advance(60)  # a's heartbeat has expired: it died
    survivor = Leadership(rig.store, rig.clock, "b#1")
    assert survivor.tick() and survivor.is_dead("a#1")
    assert rig.store.contact_of("a#1") == "127.0.0.1:5072"
    assert rig.store.contact_of("b#1") is None  # publishes nothing: no SIP
    assert rig.store.contact_of("nobody#1") is None

"""Timers on APScheduler 3.11, a scheduler lease so one instance leads, and the periodic jobs.

Jobs use stable ids with ``replace_existing`` and ``misfire_grace_time=None`` (a late timer still
runs; the engine re-checks stored state so a late or duplicate firing is a no-op). The job store
is in memory on purpose: the database is the truth and timers are rebuilt from it whenever an
instance becomes the leader.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING

from callcenter.service.ports import Clock, Timer

__all__ = [
    "SCHEDULER_LEASE", "ApschedulerTimers", "Leadership", "LeaseStore", "TimerTarget", "add_periodic",
    "new_scheduler",
]

log = logging.getLogger(__name__)
SCHEDULER_LEASE = "scheduler"
# Instances of one job at once; beyond the first they only hand over and return (see _fire).
_MAX_INSTANCES = 64


class LeaseStore(Protocol):
    def try_lease(self, name: str, holder: str, now: datetime, expires_at: datetime,
                  contact: str | None = None) -> bool: ...

    def release_lease(self, name: str, holder: str) -> None: ...

    def live_holders(self, prefix: str, now: datetime) -> set[str]: ...


class TimerTarget(Protocol):
    def escalation_timer(self, incident_id: str, level: int, token: int) -> None: ...

    def leg_timer(self, incident_id: str) -> None: ...


class ApschedulerTimers:
    """The Timers port on a BackgroundScheduler; schedules only while this instance leads."""

    def __init__(self, scheduler: BackgroundScheduler) -> None:
        self._scheduler = scheduler
        self.target: TimerTarget | None = None
        self.leading = False
        # Job ids firing now, each with the timer to fire again once it is done (None: none). In a
        # flood a firing waits for its write turn while its id is re-armed and falls due again;
        # APScheduler would skip (and so drop) runs beyond max_instances, logging each.
        self._firing: dict[str, Timer | None] = {}
        self._firing_lock = threading.Lock()

    def schedule(self, timer: Timer) -> None:
        if not self.leading or self._scheduler.state != STATE_RUNNING:
            # The leader picks it up from the database on its next sync. A stopped scheduler would
            # keep the job in a pending list it searches line by line on every lookup.
            return
        existing = self._scheduler.get_job(timer.job_id)
        if existing is not None and existing.args == (timer,):
            return  # every command re-arms its incident's timers; most are already set
        self._scheduler.add_job(
            self._fire, "date", run_date=timer.at, args=[timer], id=timer.job_id, replace_existing=True,
            misfire_grace_time=None, coalesce=True,
            # A firing re-arms its own id (the next escalation) and that may be due at once. The
            # second instance only hands its timer to the first (see _fire) and returns at once.
            max_instances=_MAX_INSTANCES,
        )

    def cancel(self, job_id: str) -> None:
        job = self._scheduler.get_job(job_id)
        if job is not None:
            job.remove()

    def clear(self) -> None:
        for job in self._scheduler.get_jobs():
            if job.id.startswith(("escalate:", "leg:")):
                job.remove()

    def _fire(self, timer: Timer) -> None:
        """Runs a timer; one falling due while its id still fires runs right after, in this thread,
        so a firing is never skipped and never runs twice at once."""
        with self._firing_lock:
            if timer.job_id in self._firing:
                self._firing[timer.job_id] = timer
                return
            self._firing[timer.job_id] = None
        while True:
            self._run(timer)
            with self._firing_lock:
                again = self._firing[timer.job_id]
                if again is None:
                    del self._firing[timer.job_id]
                    return
                self._firing[timer.job_id], timer = None, again

    def _run(self, timer: Timer) -> None:
        if self.target is None or not self.leading:
            return
        try:
            if timer.kind == "escalate":
                self.target.escalation_timer(timer.incident_id, timer.level, timer.token)
            else:
                self.target.leg_timer(timer.incident_id)
        except Exception:  # a timer must never kill the scheduler thread
            log.exception("timer %s failed", timer.job_id)


class Leadership:
    """Holds the scheduler lease and this instance's heartbeat; leads while the lease is ours.

    The lease lasts ``ttl`` and is renewed every ttl/3, so a dead leader is replaced within ttl
    plus one renewal period (under 10 s with the defaults).
    """

    def __init__(self, leases: LeaseStore, clock: Clock, holder: str, ttl: timedelta = timedelta(seconds=6),
                 on_lead: Callable[[], None] | None = None, on_lose: Callable[[], None] | None = None,
                 contact: Callable[[], str | None] = lambda: None) -> None:
        self.leases, self.clock, self.holder, self.ttl = leases, clock, holder, ttl
        self.on_lead, self.on_lose = on_lead, on_lose
        # Published with the heartbeat: where a survivor reaches what this instance leaves behind.
        self.contact = contact
        self.leading = False
        self._lock = threading.Lock()

    def tick(self) -> bool:
        with self._lock:
            now = self.clock.now()
            self.leases.try_lease(f"instance:{self.holder}", self.holder, now, now + self.ttl, self.contact())
            won = self.leases.try_lease(SCHEDULER_LEASE, self.holder, now, now + self.ttl)
            changed, self.leading = won != self.leading, won
        if changed:
            log.info("%s %s the scheduler lease", self.holder, "took" if won else "lost")
            callback = self.on_lead if won else self.on_lose
            if callback:
                callback()
        return won

    def is_dead(self, holder: str | None) -> bool:
        """A leg claimer is dead when its heartbeat lease expired (or it is an earlier boot of ours)."""
        if holder is None or holder == self.holder:
            return holder is None
        return holder not in self.leases.live_holders("instance:", self.clock.now())

    def release(self) -> None:
        self.leases.release_lease(SCHEDULER_LEASE, self.holder)
        self.leases.release_lease(f"instance:{self.holder}", self.holder)


def new_scheduler() -> BackgroundScheduler:
    return BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(8)},
        job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        timezone="UTC",
    )


def add_periodic(scheduler: BackgroundScheduler, job_id: str, seconds: float, fn: Callable[[], Any]) -> None:
    """Runs ``fn`` every ``seconds``; a run due while the last one still goes is left out quietly
    (the next covers it). APScheduler's own skip logs a warning each time, which under load buried
    the log."""
    running = threading.Lock()

    def guarded() -> None:
        if not running.acquire(blocking=False):
            return
        try:
            fn()
        except Exception:
            log.exception("periodic job %s failed", job_id)
        finally:
            running.release()

    scheduler.add_job(guarded, "interval", seconds=seconds, id=job_id, replace_existing=True,
                      misfire_grace_time=None, coalesce=True, max_instances=_MAX_INSTANCES)

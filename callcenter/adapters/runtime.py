"""The running engine on APScheduler: leadership, timers, recovery, dispatch sweep and auditor, run together."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from apscheduler.schedulers.background import BackgroundScheduler

from callcenter.adapters.scheduler import ApschedulerTimers, Leadership, add_periodic
from callcenter.service.engine import IncidentEngine
from callcenter.service.leg_reports import LegReports
from callcenter.service.ports import Overdue

__all__ = ["EngineRuntime", "Lifecycle"]

log = logging.getLogger(__name__)


class Lifecycle(Protocol):
    """What runs beside the engine and starts and stops with it (a channel package: the SIP phone)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


@dataclass
class EngineRuntime:
    engine: IncidentEngine
    scheduler: BackgroundScheduler
    timers: ApschedulerTimers
    leadership: Leadership
    lease_seconds: float = 2.0
    sweep_seconds: float = 2.0
    audit_seconds: float = 5.0
    delivery_window_seconds: float = 300.0  # how often SMS legs past the providers' report window are closed
    overdue: list[Overdue] = field(default_factory=list)
    # The channels' reports written behind them; closed (what was handed over, written) on stop.
    reports: LegReports | None = None
    # Recovery runs on a thread of its own: after a crash in a flood it can take a while, and
    # neither start-up (after which the console listens) nor key presses should wait for it.
    recover_in_background: bool = True
    recovered: threading.Event = field(default_factory=threading.Event)  # set once per leadership
    _term: int = 0  # leaderships so far: a recovery finishing late must not count for a later one
    _recovering: threading.Lock = field(default_factory=threading.Lock)
    _recovery: threading.Thread | None = None
    # The directory snapshot's refresh (docs/architecture.md "Database outage"); None: no snapshot.
    refresh_snapshot: Callable[[], object] | None = None
    snapshot_check_seconds: float = 30.0
    # A copy already on disk serves at once; a first copy waits this long so start-up and recovery come first.
    snapshot_first_seconds: float = 10.0
    # Started before the engine's own jobs, since taking the lease at start-up runs recovery, which dials
    # at once the replacements of calls a crashed process left ringing; stopped once dispatching stopped,
    # so no leg is sent into a closing phone.
    channels: Sequence[Lifecycle] = ()

    def start(self) -> None:
        for part in self.channels:
            part.start()
        self.timers.target = self.engine
        self.leadership.on_lead = self._became_leader
        self.leadership.on_lose = self._lost_leadership
        self.scheduler.start()
        try:
            self.leadership.tick()
        except Exception:  # the database is away: presses are spooled; the lease job tries again
            log.exception("%s: no scheduler lease at start (database unreachable?)", self.leadership.holder)
        add_periodic(self.scheduler, "lease", self.lease_seconds, self.leadership.tick)
        add_periodic(self.scheduler, "sweep", self.sweep_seconds, self._sweep)
        add_periodic(self.scheduler, "audit", self.audit_seconds, self._audit)
        add_periodic(self.scheduler, "delivery-window", self.delivery_window_seconds, self._expire_unreported)
        if self.refresh_snapshot is not None:
            add_periodic(self.scheduler, "snapshot", self.snapshot_check_seconds, self.refresh_snapshot)
            first = datetime.now(UTC) + timedelta(seconds=min(self.snapshot_first_seconds, self.snapshot_check_seconds))
            self.scheduler.add_job(self.refresh_snapshot, "date", run_date=first, id="snapshot-first")

    def stop(self) -> None:
        self.timers.leading = False  # commands still finishing arm no timer: the next leader does
        self.engine.stop_dispatching()  # before the channels go: no leg is sent into a closing phone
        for part in self.channels:
            part.stop()
        if self.reports is not None:  # the channels' last reports, before the engine goes
            self.reports.close(timeout=10)
        self.scheduler.shutdown(wait=False)
        if self._recovery is not None:
            self._recovery.join(timeout=5)  # a recovery under way ends before the database goes
        try:
            self.leadership.release()
        except Exception:  # the database is away: the leases expire on their own
            log.exception("%s: leases not released on stop", self.leadership.holder)

    def _became_leader(self) -> None:
        self.timers.leading = True
        self._term += 1
        self.recovered.clear()
        self._begin_recovery()

    def _begin_recovery(self) -> None:
        """One recovery at a time; a sweep during a long one leaves it be."""
        if not self._recovering.acquire(blocking=False):
            return
        if not self.recover_in_background:
            self._recover(self._term)
            return
        self._recovery = threading.Thread(target=self._recover, args=(self._term,), name="recovery", daemon=True)
        self._recovery.start()

    def _recover(self, term: int) -> None:
        """Recovery must complete once per leadership: a failure (database gone) is retried by the sweep."""
        try:
            self._replay()  # spooled presses first: recovery then sees their legs as stored
            interrupted = self.engine.recover(self.leadership.is_dead)
        except Exception:
            log.exception("leader %s: recovery failed; retrying on the next sweep", self.leadership.holder)
            return
        finally:
            self._recovering.release()
        if term != self._term:
            return  # leadership was lost and taken again meanwhile: the sweep recovers for this one
        self.recovered.set()
        log.info("leader %s: recovered, %d interrupted legs replaced", self.leadership.holder, interrupted)

    def _lost_leadership(self) -> None:
        self.timers.leading = False
        self.timers.clear()

    def _sweep(self) -> None:
        """Every instance stores its spool first; then, leader only, what no local timer covers (work
        stored by other instances, lost timers)."""
        self._replay()  # every instance replays its own spool, leader or not
        if not self.timers.leading:
            return
        if not self.recovered.is_set():
            self._begin_recovery()
            if not self.recovered.is_set():
                return  # still recovering: what follows is part of it
        elif self.engine.interrupt_dead(self.leadership.is_dead):
            log.info("leader %s: replaced legs of an instance that died", self.leadership.holder)
        self.engine.dispatch_due()
        self.engine.escalate_due()
        self.engine.send_summaries()

    def _replay(self) -> None:
        """Store what was spooled during a database outage (while it is still away, nothing happens)."""
        applied = self.engine.outage.replay()
        if applied:
            log.warning("%s: %d spooled records stored after the database outage", self.leadership.holder, applied)

    def _expire_unreported(self) -> None:
        if self.timers.leading and (closed := self.engine.expire_unreported_sms()):
            log.warning("%d SMS legs got no delivery report within the providers' window: undelivered, unknown",
                        closed)

    def _audit(self) -> None:
        if self.timers.leading:
            self.overdue = self.engine.audit()

"""The running engine: leadership, timers, recovery, dispatch sweep and auditor, run together."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from apscheduler.schedulers.background import BackgroundScheduler

from callcenter.adapters.scheduler import ApschedulerTimers, Leadership, add_periodic
from callcenter.service.engine import IncidentEngine, Overdue

log = logging.getLogger(__name__)


@dataclass
class EngineRuntime:
    engine: IncidentEngine
    scheduler: BackgroundScheduler
    timers: ApschedulerTimers
    leadership: Leadership
    lease_seconds: float = 2.0
    sweep_seconds: float = 2.0
    audit_seconds: float = 5.0
    overdue: list[Overdue] = field(default_factory=list)
    _recovered: bool = False

    def start(self) -> None:
        self.timers.target = self.engine
        self.leadership.on_lead = self._became_leader
        self.leadership.on_lose = self._lost_leadership
        self.scheduler.start()
        self.leadership.tick()
        add_periodic(self.scheduler, "lease", self.lease_seconds, self.leadership.tick)
        add_periodic(self.scheduler, "sweep", self.sweep_seconds, self._sweep)
        add_periodic(self.scheduler, "audit", self.audit_seconds, self._audit)

    def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
        self.leadership.release()

    def _became_leader(self) -> None:
        self.timers.leading = True
        self._recovered = False
        self._recover()

    def _recover(self) -> None:
        """Recovery must complete once per leadership: a failure (database gone) is retried by the sweep."""
        try:
            interrupted = self.engine.recover(self.leadership.is_dead)
        except Exception:
            log.exception("leader %s: recovery failed; retrying on the next sweep", self.leadership.holder)
            return
        self._recovered = True
        log.info("leader %s: recovered, %d interrupted legs replaced", self.leadership.holder, interrupted)

    def _lost_leadership(self) -> None:
        self.timers.leading = False
        self.timers.clear()

    def _sweep(self) -> None:
        """Leader only: what no local timer covers (work stored by other instances, lost timers)."""
        if not self.timers.leading:
            return
        if not self._recovered:
            self._recover()
        elif self.engine.interrupt_dead(self.leadership.is_dead):
            log.info("leader %s: replaced legs of an instance that died", self.leadership.holder)
        self.engine.dispatch_due()
        self.engine.escalate_due()

    def _audit(self) -> None:
        if self.timers.leading:
            self.overdue = self.engine.audit()

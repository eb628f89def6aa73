"""Health probes: each part of the service that can fail says how it is (database, scheduler, SIP...).

``/health`` runs every probe in the container's ``health_probes`` list; channels append their own
(the SIP channel's registration state, for one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine, text

from callcenter.adapters.runtime import EngineRuntime
from callcenter.service.outage import OutageState

__all__ = [
    "DatabaseProbe", "HealthProbe", "OutageProbe", "OutageView", "ProbeResult", "SchedulerProbe", "SipHealthSource",
    "SipRegistrationProbe", "describe_snapshot",
]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    detail: str


class HealthProbe(Protocol):
    name: str

    def check(self) -> ProbeResult: ...


@dataclass
class DatabaseProbe:
    engine: Callable[[], Engine]  # built lazily: building it may already fail (a directory not creatable)
    name: str = "database"

    def check(self) -> ProbeResult:
        try:
            with self.engine().connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # any driver error means "unreachable" to an operator
            return ProbeResult(False, f"unreachable: {type(exc).__name__}")
        return ProbeResult(True, "ok")


@dataclass
class SchedulerProbe:
    """Whether this instance leads (runs timers) or stands by; not running is not a failure of the API."""

    runtime: Callable[[], EngineRuntime | None]
    name: str = "scheduler"

    def check(self) -> ProbeResult:
        runtime = self.runtime()
        if runtime is None or not runtime.scheduler.running:
            return ProbeResult(True, "not running in this process")
        return ProbeResult(True, "leader" if runtime.timers.leading else "standby")


class SipHealthSource(Protocol):
    """What the SIP probe reads (``SipService.health()``): registration state and alert-call load."""

    def health(self) -> dict[str, object]: ...


@dataclass
class SipRegistrationProbe:
    """Whether the service's phone (extension 995) is registered: unregistered, no 995 call reaches us."""

    sip: Callable[[], SipHealthSource | None]  # None until the engine runtime built the SIP service
    name: str = "sip"

    def check(self) -> ProbeResult:
        sip = self.sip()
        if sip is None:
            return ProbeResult(True, "not running in this process")
        state = sip.health()
        load = f"{state.get('active_alert_calls', 0)} alert calls up, {state.get('queued_alert_calls', 0)} queued"
        if state.get("registered"):
            return ProbeResult(True, f"registered; {load}")
        since, error = state.get("retrying_since") or "start", state.get("last_error") or "no answer"
        return ProbeResult(False, f"not registered (retrying since {since}: {error}); {load}")


@dataclass(frozen=True, slots=True)
class OutageView:
    """Degraded mode as this process sees it (``Container.outage_view``)."""

    database_up: bool
    state: OutageState | None  # None: no engine in this process
    snapshot_age_seconds: float | None  # None: no directory snapshot yet
    snapshot_households: int

    @property
    def degraded(self) -> bool:
        """Presses are (or were, and wait to be stored) taken without the database."""
        waiting = self.state is not None and (self.state.degraded or self.state.spooled_records > 0)
        return self.state is not None and (not self.database_up or waiting)


@dataclass
class OutageProbe:
    """Whether key presses run degraded: database away, households from the snapshot, presses spooled."""

    view: Callable[[], OutageView]
    name: str = "outage"

    def check(self) -> ProbeResult:
        view = self.view()
        if view.state is None:
            return ProbeResult(True, "not running in this process")
        snapshot = describe_snapshot(view)
        spooled = f"{view.state.spooled_incidents} spooled incidents, {view.state.spooled_records} spooled records"
        if not view.degraded:
            return ProbeResult(True, f"normal; spool empty; {snapshot}")
        if not view.database_up:
            return ProbeResult(False, f"degraded: database unreachable, key presses alerted from the {snapshot} "
                                      f"and spooled; {spooled} wait for the database")
        return ProbeResult(False, f"degraded: the database answers but has not stored the spool yet (it refused "
                                  f"writes, or the replay is under way); {spooled} left; {snapshot}")


def describe_snapshot(view: OutageView) -> str:
    if view.snapshot_age_seconds is None:
        return "directory snapshot: none yet (callers would be unknown during an outage)"
    return f"directory snapshot {view.snapshot_age_seconds:.0f} s old ({view.snapshot_households} households)"

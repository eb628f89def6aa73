"""Health probes: each part of the service that can fail says how it is (database, scheduler, SIP...).

``/health`` runs every probe in the container's ``health_probes`` list; channels append their own
(the SIP channel's registration state, for one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine, text

from callcenter.service.runtime import EngineRuntime


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

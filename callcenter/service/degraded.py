"""Where the engine's writes meet a database outage: the one place that decides what a write does
when the store cannot be reached (docs/architecture.md, "Database outage").

The engine's commands call the seam at its three write paths and do not branch on an outage:

- ``store_press``: a key press is stored, or (the database away, or its household's incident only
  in the spool) left to ``spool_press``, which opens it in memory and spools it with the legs to place;
- ``store_reports``: channel reports are stored, or spooled (incident only in the spool, or the store
  failed for want of a database: an acknowledgement is never lost);
- ``holds_timers``: an incident's escalation timers wait while spooled records of it wait for replay;

and ``replay`` stores the spool once the database answers. ``WithoutDegradedMode`` (tests and
benchmarks of the engine alone) lets every store failure propagate; ``SpoolOnOutage`` is degraded
mode (``DegradedMode``, callcenter/service/outage.py).

Not a decorator around the incident store: a spooled press is no store operation, it places its
legs without the timers and events a stored one gets, so the seam sits at the engine's writes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol, TypeVar

from callcenter.domain.incident import AlertLeg, Incident
from callcenter.domain.types import CallerTrust
from callcenter.service.outage import DegradedMode, ReplayHooks, Report

__all__ = ["OutageSeam", "SpoolOnOutage", "WithoutDegradedMode"]

_Stored = TypeVar("_Stored")


class OutageSeam(Protocol):
    def store_press(self, open_key: str, store: Callable[[], _Stored]) -> _Stored | None:
        """``store()``'s result, or None: the press is to be spooled (``spool_press``)."""
        ...

    def spool_press(self, open_key: str, at: datetime, counted: bool, trust: CallerTrust,
                    open_incident: Callable[[], Incident],
                    provider: Callable[[AlertLeg], str]) -> tuple[Incident, list[AlertLeg]]:
        """Spool a press ``store_press`` turned away; its incident and the legs to hand to the channels now."""
        ...

    def store_reports(self, incident_id: str, reports: list[Report], store: Callable[[], object]) -> None:
        """Store ``reports`` with ``store()``, or spool them."""
        ...

    def holds_timers(self, incident_id: str) -> bool:
        """Records of the incident wait for replay: its timers must not act on stale state."""
        ...

    def replay(self) -> int:
        """Store what was spooled; the number of records that changed something."""
        ...


class WithoutDegradedMode:
    """No spool: a press or a report the store cannot take fails with the store's error."""

    def store_press(self, open_key: str, store: Callable[[], _Stored]) -> _Stored | None:
        return store()

    def spool_press(self, open_key: str, at: datetime, counted: bool, trust: CallerTrust,
                    open_incident: Callable[[], Incident],
                    provider: Callable[[AlertLeg], str]) -> tuple[Incident, list[AlertLeg]]:
        raise RuntimeError("no degraded mode: a press is never spooled")  # store_press never turns one away

    def store_reports(self, incident_id: str, reports: list[Report], store: Callable[[], object]) -> None:
        store()

    def holds_timers(self, incident_id: str) -> bool:
        return False

    def replay(self) -> int:
        return 0


class SpoolOnOutage:
    """Degraded mode at the engine's writes. ``hooks``: what the engine does with replayed incidents."""

    def __init__(self, mode: DegradedMode, hooks: ReplayHooks) -> None:
        self.mode, self._hooks = mode, hooks

    def store_press(self, open_key: str, store: Callable[[], _Stored]) -> _Stored | None:
        if self.mode.holds(open_key):
            return None  # the household's incident is only in the spool: the press joins it there
        try:
            return store()
        except Exception as exc:
            if not self.mode.went_down(exc):
                raise
            return None

    def spool_press(self, open_key: str, at: datetime, counted: bool, trust: CallerTrust,
                    open_incident: Callable[[], Incident],
                    provider: Callable[[AlertLeg], str]) -> tuple[Incident, list[AlertLeg]]:
        return self.mode.press(open_key, at, counted, trust, open_incident, provider)

    def store_reports(self, incident_id: str, reports: list[Report], store: Callable[[], object]) -> None:
        if self.mode.take_reports(incident_id, reports):
            return
        try:
            store()
        except Exception as exc:
            if not self.mode.went_down(exc):
                raise
            self.mode.take_reports(incident_id, reports, force=True)  # an acknowledgement is never lost

    def holds_timers(self, incident_id: str) -> bool:
        return self.mode.waiting(incident_id)

    def replay(self) -> int:
        return self.mode.replay(self._hooks)

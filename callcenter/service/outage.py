"""Degraded mode: key presses while the database is unreachable, and their replay when it is back.

A press the store cannot take opens its incident in memory (the household found in the directory
snapshot), spools it with the level-0 legs it is about to place (fsynced), and those legs go to
the channels at once. Channel reports on spooled incidents, and any report the store cannot take,
are spooled too. ``replay`` writes everything into the store once it answers again: incidents
with their original press time and a "stored after database outage" timeline note, placed legs
as claimed and placed (never placed again); then the engine takes over (``ReplayHooks.on_stored``).
The engine reaches all this through one seam (callcenter/service/degraded.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from callcenter.domain.incident import AlertLeg, Incident
from callcenter.domain.policy import EscalationPolicy
from callcenter.domain.types import CallerTrust, LegStatus
from callcenter.service.ports import Clock, ConcurrentUpdateError, IncidentStore
from callcenter.service.replay import (
    Replayed,
    claimed_record,
    opened_record,
    outcome_record,
    pressed_again_record,
    replay_incident,
)
from callcenter.service.spool import PressSpool, Segment, SpoolRecord, encode

__all__ = ["DegradedMode", "OutageState", "ReplayHooks", "Report"]

log = logging.getLogger(__name__)
_RETRIES = 8


@dataclass(frozen=True, slots=True)
class Report:
    """A channel's report on a leg, as the engine's ``leg_outcome`` takes it."""

    leg_id: str
    status: LegStatus
    detail: str = ""
    ref: str = ""


@dataclass(frozen=True, slots=True)
class OutageState:
    """What health and metrics say about degraded mode."""

    degraded: bool  # the last store operation failed for want of a database
    down_since: datetime | None
    spooled_incidents: int  # incidents opened by a spooled press, not yet in the database
    spooled_records: int  # records of any kind waiting for the database
    spooled_presses: int  # presses spooled since start (new incidents and repeats)
    replayed_records: int  # records replayed since start


@dataclass(frozen=True, slots=True)
class ReplayHooks:
    """What the engine does with a replay (``DegradedMode.replay``)."""

    survives_restart: Callable[[str], bool]  # by provider name: its calls outlive a restart of ours
    on_stored: Callable[[Incident], None]  # a spooled incident (or spooled reports) reached the store


class DegradedMode:
    def __init__(self, spool: PressSpool, store: IncidentStore, policy: EscalationPolicy, clock: Clock,
                 holder: str, unavailable: Callable[[BaseException], bool]) -> None:
        self.spool, self.store, self.policy, self.clock, self.holder = spool, store, policy, clock, holder
        self.unavailable = unavailable
        self._lock = threading.RLock()
        self._replay_lock = threading.Lock()
        self._open: dict[str, Incident] = {}  # open key → spooled incident not yet stored
        self._unstored: set[str] = set()
        self._waiting: dict[str, int] = {}  # incident → records not yet replayed
        self._claimed: set[str] = set()
        self._presses = 0
        self._replayed = 0
        self._down_since: datetime | None = None
        self._load()

    # -- while the database is away ---------------------------------------------------------

    def holds(self, open_key: str) -> bool:
        """A spooled incident of this household is still open: its presses join it here."""
        with self._lock:
            return open_key in self._open

    def press(self, open_key: str, now: datetime, counted: bool, trust: CallerTrust,
              open_incident: Callable[[], Incident],
              provider: Callable[[AlertLeg], str]) -> tuple[Incident, list[AlertLeg]]:
        """Spool a press; returns its incident and the legs to hand to the channels now.
        ``open_incident`` opens it unheld: with the database down nobody could release it."""
        with self._lock:
            existing = self._open.get(open_key)
            if existing is not None and self._joins(existing, now):
                existing.press_again(now, self.policy, counted, trust=trust)
                incident, records = existing, [pressed_again_record(existing.id, now, counted, trust)]
            else:
                incident = open_incident()
                records = [opened_record(incident, open_key, self.holder)]
                self._open[open_key] = incident
                self._unstored.add(incident.id)
            legs = [leg for leg in incident.pending_legs() if leg.due_at <= now and leg.id not in self._claimed]
            records.append(claimed_record(incident.id, now, {leg.id: provider(leg) for leg in legs}, self.holder))
            try:
                self._append(records, now)
            except OSError:  # disk full or gone: the neighbours are rung all the same, loudly
                log.critical("incident %s NOT spooled: it is alerted but will not be stored; tell the operators",
                             incident.id, exc_info=True)
            self._claimed.update(leg.id for leg in legs)
            self._presses += 1
        incident.new_events, incident.changed_legs = [], set()
        return incident, legs

    def take_reports(self, incident_id: str, reports: Sequence[Report], force: bool = False) -> bool:
        """Spool channel reports when their incident is only in the spool (or ``force``: the store
        failed). Returns whether they were spooled; if not, the caller stores them as usual."""
        with self._lock:
            if not force and incident_id not in self._unstored:
                return False
            now = self.clock.now()
            self._append([outcome_record(incident_id, now, r.leg_id, r.status, r.detail, r.ref) for r in reports],
                         now)
            return True

    def waiting(self, incident_id: str) -> bool:
        """Records of this incident wait for replay: its timers must not act on stale state."""
        with self._lock:
            return incident_id in self._waiting

    def went_down(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the database is unreachable (and note when that began)."""
        if not self.unavailable(exc):
            return False
        with self._lock:
            if self._down_since is None:
                self._down_since = self.clock.now()
                log.error("database unreachable (%s): key presses are spooled and alerted from the directory "
                          "snapshot", type(exc).__name__)
        return True

    def state(self) -> OutageState:
        with self._lock:
            return OutageState(self._down_since is not None, self._down_since, len(self._unstored),
                               sum(self._waiting.values()), self._presses, self._replayed)

    # -- when it is back --------------------------------------------------------------------

    def replay(self, hooks: ReplayHooks) -> int:
        """Store every spooled record (idempotent; a failure leaves the rest for the next call).
        Returns the number of records that changed something."""
        with self._replay_lock:
            if not self._has_waiting():
                return 0
            applied = 0
            try:
                for path in self.spool.seal():
                    applied += self._replay_segment(self.spool.read(path), hooks)
            except Exception as exc:
                if not self.unavailable(exc):
                    raise
                log.warning("spool replay waits: database still unreachable (%s)", type(exc).__name__)
                return applied
            with self._lock:
                self._down_since = None
            return applied

    def _replay_segment(self, segment: Segment, hooks: ReplayHooks) -> int:
        """Apply a sealed segment incident by incident. Records the store refuses for a reason other
        than an outage are kept with the rejected lines and logged, so one cannot block the rest."""
        by_incident: dict[str, list[SpoolRecord]] = {}
        for record in segment.records:
            by_incident.setdefault(record.incident_id, []).append(record)
        applied, failed, stored = 0, list[str](), list[Incident]()
        for incident_id, records in by_incident.items():
            try:
                result = self._replay_incident(incident_id, records, hooks.survives_restart)
            except Exception as exc:
                if self.unavailable(exc):
                    raise  # the database went away again: the whole segment waits for the next try
                log.exception("spooled records of incident %s could not be stored; kept in rejected.jsonl",
                              incident_id)
                failed.extend(encode(r) for r in records)
                continue
            if result is not None and (result.applied or result.is_new):
                stored.append(result.incident)
            applied += 0 if result is None else result.applied
        self.spool.retire(Segment(segment.path, segment.records, [*segment.rejected, *failed]))
        with self._lock:  # only now: a segment replayed halfway is replayed again, whole
            for incident_id, records in by_incident.items():
                left = self._waiting.get(incident_id, 0) - len(records)
                if left > 0:
                    self._waiting[incident_id] = left
                else:
                    self._waiting.pop(incident_id, None)
            self._replayed += len(segment.records)
        for incident in stored:  # after "waiting" is cleared: the engine may escalate them now
            hooks.on_stored(incident)
        return applied

    def _replay_incident(self, incident_id: str, records: list[SpoolRecord],
                         survives_restart: Callable[[str], bool]) -> Replayed | None:
        for _ in range(_RETRIES):
            try:
                result = self._store_once(incident_id, records, survives_restart)
            except ConcurrentUpdateError:
                continue  # another instance stored it or took its open key meanwhile: read again
            if result is None:
                log.error("spooled records of incident %s not applied: the store does not know it and no "
                          "spooled press opens it (%d records kept under replayed/)", incident_id, len(records))
            return result
        raise ConcurrentUpdateError(f"spooled incident {incident_id}: too many concurrent updates")

    def _store_once(self, incident_id: str, records: list[SpoolRecord],
                    survives_restart: Callable[[str], bool]) -> Replayed | None:
        now = self.clock.now()
        with self.store.unit_of_work() as uow:
            result = replay_incident(records, uow.incidents.get(incident_id), self.policy, self.holder,
                                     survives_restart, now)
            if result is None:
                return None
            if result.is_new:
                key = result.open_key
                taken = key is not None and uow.incidents.find_open(key) is not None
                uow.incidents.add(result.incident, None if taken else key)
            elif result.incident.new_events or result.incident.changed_legs:
                uow.incidents.save(result.incident, now)
            uow.incidents.record_claims([(c.leg_id, c.holder, c.provider, c.at) for c in result.claims])
            with self._lock:  # a report checks "only in the spool?" under this lock: never both ways
                uow.commit()
                self._stored(result.incident)
        return result

    def _stored(self, incident: Incident) -> None:
        self._unstored.discard(incident.id)
        for key, spooled in list(self._open.items()):
            if spooled.id == incident.id:
                del self._open[key]

    # -- internals -------------------------------------------------------------------------

    def _append(self, records: list[SpoolRecord], now: datetime) -> None:
        self.spool.append(records)
        for record in records:
            self._waiting[record.incident_id] = self._waiting.get(record.incident_id, 0) + 1
        if self._down_since is None:
            self._down_since = now

    def _has_waiting(self) -> bool:
        with self._lock:
            return bool(self._waiting)

    def _joins(self, existing: Incident, now: datetime) -> bool:
        last = existing.last_press_at or existing.opened_at
        return existing.status.is_open and now - last <= self.policy.repeat_press_window

    def _load(self) -> None:
        """After a restart: what an earlier boot spooled and never stored waits for replay."""
        for record in self.spool.waiting():
            self._waiting[record.incident_id] = self._waiting.get(record.incident_id, 0) + 1
            if record.kind in ("opened", "pressed_again"):
                self._presses += 1
            if record.kind == "opened":
                self._unstored.add(record.incident_id)
        if self._waiting:
            log.warning("spool holds %d records of %d incidents from before a restart; replayed when the "
                        "database answers", sum(self._waiting.values()), len(self._waiting))

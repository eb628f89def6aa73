"""What the press limits remember: each line's recent counted presses, each household's last closed
incident, and each network source's unverified presses and ban.

Decisions are the pure ones of callcenter.domain.presses and callcenter.domain.sources. Reads come from
memory (a press never waits for them); every change is also written through ``PressRecords`` (the
database in ``callcenter serve``) and read back at start, so a restart of the service forgets neither a
line's limit nor a source's ban. A write that fails is logged and the press goes on: the limits guard
the neighbours' phones, they must never stand between a household and its incident.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from callcenter.domain.policy import PressLimit, SourceLimit
from callcenter.domain.presses import count_press, within_cooldown
from callcenter.domain.sources import SourceRecord, SourceVerdict, judge_unverified, with_incident
from callcenter.service.ports import LedgerSnapshot, PressRecords

__all__ = ["PressLedger"]

log = logging.getLogger(__name__)

_V = TypeVar("_V")
REMEMBERED_FOR = timedelta(days=1)  # longer than any window, cool-down or ban a county would set
PAUSE_AFTER_FAILURE = 10.0  # seconds without writes after one failed: a database outage must not slow presses


class _Bounded(Generic[_V]):
    """A dict that forgets its least recently written entries beyond ``size`` (a flood of made-up
    caller IDs cannot grow it without bound)."""

    def __init__(self, size: int) -> None:
        self._items: OrderedDict[str, _V] = OrderedDict()
        self._size = size

    def get(self, key: str) -> _V | None:
        return self._items.get(key)

    def put(self, key: str, value: _V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def values(self) -> list[_V]:
        return list(self._items.values())

    def __len__(self) -> int:
        return len(self._items)


class MemoryPressRecords:
    """``PressRecords`` in memory: the fake for tests, and the ledger's store when none is wired."""

    def __init__(self) -> None:
        self.lines: dict[str, tuple[tuple[datetime, ...], datetime]] = {}
        self.closes: dict[str, tuple[str, datetime]] = {}
        self.records: dict[str, tuple[SourceRecord, datetime]] = {}

    def load(self, since: datetime) -> LedgerSnapshot:
        return LedgerSnapshot(
            lines={k: v for k, (v, at) in self.lines.items() if at >= since},
            closes={k: v for k, v in self.closes.items() if v[1] >= since},
            sources={k: r for k, (r, at) in self.records.items() if at >= since})

    def save_line(self, line: str, presses: tuple[datetime, ...], now: datetime) -> None:
        self.lines[line] = (presses, now)

    def save_close(self, open_key: str, incident_id: str, closed_at: datetime) -> None:
        self.closes[open_key] = (incident_id, closed_at)

    def save_source(self, record: SourceRecord, now: datetime) -> None:
        self.records[record.source] = (record, now)

    def sources(self) -> list[SourceRecord]:
        return [record for record, _ in self.records.values()]


class PressLedger:
    def __init__(self, records: PressRecords | None = None, size: int = 50_000) -> None:
        self.records: PressRecords = records or MemoryPressRecords()
        self._presses: _Bounded[tuple[datetime, ...]] = _Bounded(size)
        self._closed: _Bounded[tuple[str, datetime]] = _Bounded(size)
        self._sources: _Bounded[SourceRecord] = _Bounded(size)
        self._lock = threading.Lock()
        self._paused_until = 0.0

    @classmethod
    def restored(cls, records: PressRecords, now: datetime, size: int = 50_000) -> PressLedger:
        """The ledger as ``records`` kept it: what a restart must not forget."""
        ledger = cls(records, size)
        try:
            snapshot = records.load(now - REMEMBERED_FOR)
        except Exception:  # the database is away at start: the presses must still be taken
            log.exception("press ledger: could not read what it kept; starting empty")
            return ledger
        for line, presses in snapshot.lines.items():
            ledger._presses.put(line, presses)
        for key, closed in snapshot.closes.items():
            ledger._closed.put(key, closed)
        for source, record in snapshot.sources.items():
            ledger._sources.put(source, record)
        banned = [r.source for r in snapshot.sources.values() if r.banned(now)]
        if banned:
            log.warning("press ledger restored: %d source(s) still banned: %s", len(banned), ", ".join(banned))
        return ledger

    # -- lines -------------------------------------------------------------------------------

    def count(self, line: str, now: datetime, limit: PressLimit) -> bool:
        """Record a press of ``line``; whether it counts under the rate limit."""
        with self._lock:
            counted, recent = count_press(self._presses.get(line) or (), now, limit)
            self._presses.put(line, recent)
        if counted:
            self._write(lambda: self.records.save_line(line, recent, now))
        return counted

    def closed(self, open_key: str, incident_id: str, at: datetime) -> None:
        with self._lock:
            self._closed.put(open_key, (incident_id, at))
        self._write(lambda: self.records.save_close(open_key, incident_id, at))

    def recent_close(self, open_key: str, now: datetime, limit: PressLimit) -> tuple[str, datetime] | None:
        """The household's incident closed within the cool-down, if any: (incident id, closed at)."""
        with self._lock:
            found = self._closed.get(open_key)
        return found if found is not None and within_cooldown(found[1], now, limit) else None

    # -- sources of unverified presses -------------------------------------------------------------

    def judge_source(self, source: str, line: str, now: datetime, limit: SourceLimit) -> SourceVerdict:
        """An unverified press from ``source`` claiming ``line``: whether the source is (now) banned."""
        with self._lock:
            verdict = judge_unverified(self._sources.get(source) or SourceRecord(source), line, now, limit)
            self._sources.put(source, verdict.record)
        if verdict.banned_now:
            log.warning("source %s banned until %s: over %d unverified presses in %s; its incidents stay held",
                        source, verdict.record.banned_until, limit.presses, limit.window)
        self._write(lambda: self.records.save_source(verdict.record, now))
        return verdict

    def opened_held(self, source: str, incident_id: str, now: datetime) -> None:
        """``source``'s unverified press opened (or joined) this held incident."""
        with self._lock:
            record = self._sources.get(source)
            if record is None:
                return
            record = with_incident(record, incident_id)
            self._sources.put(source, record)
        self._write(lambda: self.records.save_source(record, now))

    def lift(self, source: str, now: datetime) -> tuple[SourceRecord, SourceRecord] | None:
        """An operator lifts a source's ban: (before, after). None: no unverified press came from it.
        A source only another instance has seen is found in the records."""
        with self._lock:
            before = self._sources.get(source)
        if before is None:
            before = next((r for r in self.records.sources() if r.source == source), None)
            if before is None:
                return None
        after = before.lifted()
        with self._lock:
            self._sources.put(source, after)
        self.records.save_source(after, now)  # the operator must know if it did not take: no _write here
        log.warning("source %s: ban lifted", source)
        return before, after

    def source(self, source: str) -> SourceRecord | None:
        with self._lock:
            return self._sources.get(source)

    def _write(self, write: Callable[[], None]) -> None:
        if time.monotonic() < self._paused_until:
            return
        try:
            write()
        except Exception:
            self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
            log.exception("press ledger: a write failed; limits hold in memory, writes paused %.0f s",
                          PAUSE_AFTER_FAILURE)

    def __len__(self) -> int:
        with self._lock:
            return len(self._presses)

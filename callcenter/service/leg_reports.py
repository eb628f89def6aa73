"""Leg reports from call threads, written behind them in batches per incident.

A SIP leg thread holds a trunk channel and a live call; when it waited for its report to be
written (dialing, ringing, answered, the outcome: four writes a call) it waited for a write turn
behind every key press of a flood, and the trunk served a third of the calls it could. Here the
thread hands the report over and goes on; a few writer threads take all reports of one incident
that arrived meanwhile and write them in one transaction, in the order they were made.

What is handed over but not yet written when the process dies is what a synchronous write would
lose too: the leg stays in flight in the database and the next leader replaces it with a fresh
attempt (docs/architecture.md "Timers, leadership, recovery").
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from callcenter.domain.types import LegStatus
from callcenter.service.outage import Report

__all__ = ["LegReports"]

log = logging.getLogger(__name__)

WriteBatch = Callable[[str, list[Report]], None]


class LegReports:
    """An outcome sink (``leg_outcome``) whose callers never wait for the database.

    Per incident the reports keep their order and one writer at a time writes them; incidents are
    served in the order their first waiting report arrived.
    """

    def __init__(self, write: WriteBatch, writers: int = 2, name: str = "leg-reports") -> None:
        self._write = write
        self._waiting: dict[str, list[Report]] = {}  # incident -> reports not yet taken by a writer
        self._ready: deque[str] = deque()  # incidents with waiting reports and no writer on them
        self._writing: set[str] = set()
        self._changed = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._run, name=f"{name}-{n}", daemon=True) for n in range(writers)]
        for thread in self._threads:
            thread.start()

    def leg_outcome(self, leg_id: str, status: LegStatus, detail: str = "", provider_ref: str = "") -> None:
        incident_id = leg_id.split("/", 1)[0]
        with self._changed:
            if self._closed:
                raise RuntimeError(f"leg reports closed: {leg_id} {status} not taken")
            queued = self._waiting.setdefault(incident_id, [])
            queued.append(Report(leg_id, status, detail, provider_ref))
            if len(queued) == 1 and incident_id not in self._writing:
                self._ready.append(incident_id)
                self._changed.notify()

    def pending(self) -> int:
        with self._changed:
            return sum(len(r) for r in self._waiting.values()) + len(self._writing)

    def flush(self, timeout: float) -> bool:
        """Wait until every report handed over so far is written (or failed); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._waiting or self._writing:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Write what was handed over, then stop the writers; reports after this are refused."""
        flushed = self.flush(timeout)
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(max(timeout, 0.1))
        if not flushed:
            log.error("leg reports: %d not written on close; their legs are replaced after restart", self.pending())
        return flushed

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._ready and not self._closed:
                    self._changed.wait()
                if not self._ready:
                    return
                incident_id = self._ready.popleft()
                batch = self._waiting.pop(incident_id)
                self._writing.add(incident_id)
            try:
                self._write(incident_id, batch)
            except Exception:  # the engine spools what a database outage refuses; anything else is a bug
                log.exception("leg reports of %s not written: %s", incident_id,
                              ", ".join(f"{r.leg_id} {r.status}" for r in batch))
            finally:
                with self._changed:
                    self._writing.discard(incident_id)
                    if incident_id in self._waiting:  # arrived while this batch was written
                        self._ready.append(incident_id)
                    self._changed.notify_all()

"""Hand-over batching: what the channels answered when legs were handed to them (DIALING, SUBMITTED
or a refusal), stored many legs of one incident per unit of work.

A fan-out hands twenty legs to the channels at once; one command per leg would queue them behind
each other on the incident's lock. The first sender thread of an incident becomes its writer: it
writes every hand-over that has arrived meanwhile, and goes on until none is left.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from callcenter.service.outage import Report

__all__ = ["HandoverBatches"]


class HandoverBatches:
    """``write(incident_id, reports)`` stores one batch of one incident's hand-overs (the engine's
    command); it runs in the thread of the sender that became the incident's writer."""

    def __init__(self, write: Callable[[str, list[Report]], None]) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._waiting: dict[str, list[Report]] = {}
        self._writers: set[str] = set()

    def handed_over(self, incident_id: str, report: Report) -> None:
        """Queue ``report``; if no thread writes this incident's hand-overs yet, write them all here."""
        with self._lock:
            self._waiting.setdefault(incident_id, []).append(report)
            if incident_id in self._writers:
                return
            self._writers.add(incident_id)
        try:
            while batch := self._take(incident_id):
                self._write(incident_id, batch)
        except BaseException:
            with self._lock:
                self._writers.discard(incident_id)
            raise

    def _take(self, incident_id: str) -> list[Report]:
        """The hand-overs waiting; when none, this thread stops being the writer (in the same breath,
        so that nothing can be queued for a writer that has already left)."""
        with self._lock:
            batch = self._waiting.pop(incident_id, [])
            if not batch:
                self._writers.discard(incident_id)
            return batch

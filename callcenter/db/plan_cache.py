"""Decoded fan-out plans by incident id, shared by every reader in the process.

A plan (every recipient of every level) is written once, when its incident is stored, and never
changes. Decoding it again on each command of the engine and for each row of each queue refetch
was the largest share of the service's CPU in a mass event; the newest plans stay decoded here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from callcenter.domain.plan import FanOutPlan

__all__ = ["PLANS", "PlanCache"]

DEFAULT_SIZE = 4096  # a mass event is ~1,000 open incidents; a plan is a few kB decoded


class PlanCache:
    """A bounded, thread-safe map of incident id → plan (least recently used goes first)."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._size = size
        self._plans: OrderedDict[str, FanOutPlan] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, incident_id: str) -> FanOutPlan | None:
        with self._lock:
            plan = self._plans.get(incident_id)
            if plan is not None:
                self._plans.move_to_end(incident_id)
            return plan

    def put(self, incident_id: str, plan: FanOutPlan) -> None:
        with self._lock:
            self._plans[incident_id] = plan
            self._plans.move_to_end(incident_id)
            while len(self._plans) > self._size:
                self._plans.popitem(last=False)

    def plans(self, incident_ids: Iterable[str],
              fetch: Callable[[list[str]], Iterable[tuple[str, Any]]],
              decode: Callable[[Any], FanOutPlan]) -> dict[str, FanOutPlan]:
        """The plans of ``incident_ids``; the ones not cached are fetched (id, stored JSON) in one go."""
        found: dict[str, FanOutPlan] = {}
        missing: list[str] = []
        for incident_id in dict.fromkeys(incident_ids):
            plan = self.get(incident_id)
            if plan is None:
                missing.append(incident_id)
            else:
                found[incident_id] = plan
        if missing:
            for incident_id, stored in fetch(missing):
                found[incident_id] = decoded = decode(stored)
                self.put(incident_id, decoded)
        return found


PLANS = PlanCache()

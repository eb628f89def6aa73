"""Each incident's alert announcement rendered while its first call rings, not when a neighbour answers.

The announcement names the household and the address, so it is synthesised once per incident. Left
to the answered calls, the first answers of a flood all waited for the synthesizer together, and
their speech processes took both cores of a small machine just as the first presses were being
stored (docs/benchmarks.md, "Mass event"). Here one background thread renders them in the order
the incidents' first calls were dialled, one at a time; a call answered before its announcement is
ready renders it itself (``PromptLibrary`` runs one synthesis per text at a time). Rendering at
dialling rather than when the legs are queued spends nothing on incidents whose calls wait behind
a full trunk: a flood's thousand announcements are not all made in its first minute.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable

from callcenter.service.ports import LegOrder

__all__ = ["AnnouncementWarmer"]

log = logging.getLogger(__name__)

REMEMBERED = 4096  # announcements already asked for: a flood's incidents, with room to spare


class AnnouncementWarmer:
    def __init__(self, render: Callable[[LegOrder], object]) -> None:
        self._render = render
        self._asked: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()
        self._orders: queue.SimpleQueue[LegOrder | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.rendered = 0

    def __call__(self, order: LegOrder) -> None:
        """Ask for the announcement of ``order``'s incident (as it stands: a type set later is a new text)."""
        key = (order.incident_id, order.facts.emergency_type)
        with self._lock:
            if key in self._asked:
                return
            self._asked[key] = None
            if len(self._asked) > REMEMBERED:
                self._asked.popitem(last=False)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="announcements", daemon=True)
                self._thread.start()
        self._orders.put(order)

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._orders.put(None)
            thread.join(5)

    def _run(self) -> None:
        while (order := self._orders.get()) is not None:
            try:
                self._render(order)
                self.rendered += 1
            except Exception as exc:  # the call renders it on answer, or says the plain text
                log.warning("announcement of incident %s not rendered ahead: %s", order.incident_id, exc)

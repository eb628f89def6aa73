"""A test and demo channel: simulated phones that write every placement to an append-only log.

Each placement is appended (one JSON line: leg id, attempt, channel, process id, time) and fsynced
BEFORE ``send`` returns the provider reference, the way a real provider has accepted a call before
it answers our request. The log is therefore the ground truth of what was placed, whatever became
of the process afterwards: the process-level crash test kills the engine at random and then
checks that no leg id appears in it twice. Never a production channel: nobody is rung.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.adapters.simulated import SimulatedPhones
from callcenter.domain.types import Channel
from callcenter.service.ports import LegOrder, OutcomeSink

__all__ = ["PlacementLog", "recording_phones"]

# A provider takes a moment to answer a request it has accepted: the crash window this leaves
# (placed, reference not yet stored) is the one the crash test is about. Scaled like every delay.
_REPLY_SECONDS = 0.2


@dataclass
class PlacementLog:
    """Append-only, fsynced log of placements; safe for the threads of one process."""

    path: Path
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def append(self, order: LegOrder) -> None:
        # "at" (wall clock, seconds) lets the crash benchmark time a restart to the first leg it re-placed.
        line = json.dumps({"leg": order.leg_id, "attempt": order.attempt, "channel": str(order.channel),
                           "pid": os.getpid(), "at": time.time()}, ensure_ascii=False) + "\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())  # one small write: a kill leaves a whole line or none
                os.fsync(fd)
            finally:
                os.close(fd)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def recording_phones(channel: Channel, log: PlacementLog, time_scale: float,
                     sink: OutcomeSink | None = None) -> SimulatedPhones:
    """Simulated phones of ``channel`` that log each placement before replying."""

    def place(order: LegOrder) -> None:
        log.append(order)
        time.sleep(_REPLY_SECONDS * time_scale)

    return SimulatedPhones(channel, name=f"recording-{channel}", time_scale=time_scale, sink=sink, on_send=place)

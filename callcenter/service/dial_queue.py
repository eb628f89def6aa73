"""Calls waiting for a trunk channel, served fairly across incidents (channel-neutral, no I/O).

In a flood, a thousand households press within a minute and each wants twenty neighbours called
through a trunk of sixty channels. Serving one incident's calls before the next incident's (the
old order: highest level, then oldest press) rang the first incidents' whole groups while later
households waited forty minutes for a first neighbour. Here the next free channel goes to the
neediest incident:

1. an incident with fewer calls up than its quorum still needs plus a margin (``LegOrder.calls_wanted``)
   comes before one that has them: with the trunk full, each incident gets only the calls its quorum
   needs, and the next ones as those end;
2. then the incident with the fewest calls up now: no incident gets a second call while another
   waiting one has none ringing;
3. then an incident none of whose calls has rung yet: a household whose neighbours' phones have not
   rung at all (none dialled, or only busy and failed ones) comes before one whose calls rang and ended;
4. then the higher escalation level (an incident whose neighbours were tried and did not come:
   the engine only escalates an incident after its level's calls could ring), then the fewest calls
   placed so far;
5. then the oldest key press, then arrival.

Within an incident its highest-level calls go first, then in arrival order. When the trunk is free
nothing waits, and every call of an incident is dialled at once, as the plan says.

Choosing scans the incidents that have calls waiting (a flood has about a thousand, and a choice is
made only when a channel frees up, a few times a second), so the order always reflects the calls
up right now without re-sorting a heap on every change.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime

from callcenter.service.ports import LegOrder

__all__ = ["FairDialQueue", "FairRanks"]


@dataclass
class _Incident:
    """One incident's waiting calls and what the choice needs to know about it."""

    pressed_at: datetime
    level: int = 0
    wanted: int = 1  # calls it wants up at once while others wait
    first_seq: int = 0
    waiting: list[tuple[int, int, LegOrder, str]] = field(default_factory=list)  # (-level, seq, order, ref)


class FairDialQueue:
    """Waiting calls by incident, with the number of calls each incident has up; thread-safe.

    ``pop`` hands out the next call and counts it as up for its incident; the channel calls
    ``ended`` when that call is over (whatever its outcome), so the count stays true.
    """

    def __init__(self, keep: int = 10_000) -> None:
        self._incidents: dict[str, _Incident] = {}
        self._up: dict[str, int] = {}  # calls up (dialling, ringing, talking) per incident
        # Calls handed out per incident, the most recent incidents last (the oldest forgotten past ``keep``).
        self._placed: dict[str, int] = {}
        self._keep = keep
        self._seq = itertools.count()
        self._size = 0
        self._lock = threading.RLock()  # reentrant: a recording subclass (bench) wraps push and pop in it

    def push(self, order: LegOrder, ref: str) -> None:
        with self._lock:
            seq = next(self._seq)
            entry = self._incidents.get(order.incident_id)
            if entry is None:
                entry = self._incidents[order.incident_id] = _Incident(order.facts.pressed_at, first_seq=seq)
            # The latest order knows the incident best (its level now, the acknowledgements so far).
            entry.level, entry.wanted = order.incident_level, max(1, order.calls_wanted)
            heapq.heappush(entry.waiting, (-order.leg_level, seq, order, ref))
            self._size += 1

    def pop(self) -> tuple[LegOrder, str] | None:
        """The next call to dial, now counted as up; None when nothing waits."""
        with self._lock:
            if not self._incidents:
                return None
            incident_id = min(self._incidents, key=self._need)
            entry = self._incidents[incident_id]
            _, _, order, ref = heapq.heappop(entry.waiting)
            if not entry.waiting:
                del self._incidents[incident_id]
            self._size -= 1
            self._up[incident_id] = self._up.get(incident_id, 0) + 1
            self._placed[incident_id] = self._placed.pop(incident_id, 0) + 1
            if len(self._placed) > self._keep:
                del self._placed[next(iter(self._placed))]
            return order, ref

    def ended(self, incident_id: str, rang: bool = True) -> None:
        """A call ``pop`` handed out is over (or was never placed). One that never rang the neighbour's
        phone (busy, failed, stood down before dialling) does not count as a call placed for the
        incident: a household whose first neighbour was busy is as needy as one not tried yet."""
        with self._lock:
            left = self._up.get(incident_id, 0) - 1
            if left > 0:
                self._up[incident_id] = left
            else:
                self._up.pop(incident_id, None)
            if not rang and self._placed.get(incident_id, 0) > 0:
                self._placed[incident_id] -= 1

    def up(self, incident_id: str) -> int:
        with self._lock:
            return self._up.get(incident_id, 0)

    def waiting_incidents(self) -> int:
        """Incidents with at least one call waiting for a channel."""
        return len(self._incidents)

    def _need(self, incident_id: str) -> tuple[int, int, int, int, int, datetime, int]:
        entry, up = self._incidents[incident_id], self._up.get(incident_id, 0)
        placed = self._placed.get(incident_id, 0)
        return (0 if up < entry.wanted else 1, up, min(placed, 1), -entry.level, placed, entry.pressed_at,
                entry.first_seq)

    def __len__(self) -> int:
        return self._size


class FairRanks:
    """The same rules for a rate-limited send queue whose calls are not counted up and down (Twilio's
    pacer serves the smallest priority first): the n-th leg an incident sends through the channel
    ranks n, so every incident's first leg goes before any incident's second, and the legs within its
    quorum's need plus the margin before the rest; then the higher level, then the oldest press.
    Keeps the ranks of the last ``keep`` incidents (an older incident's next leg starts again at 0).
    """

    def __init__(self, keep: int = 10_000) -> None:
        self._sent: dict[str, int] = {}
        self._keep = keep
        self._lock = threading.Lock()

    def priority(self, order: LegOrder) -> tuple[int, int, int, datetime]:
        with self._lock:
            rank = self._sent.pop(order.incident_id, 0)
            self._sent[order.incident_id] = rank + 1  # most recently used last
            if len(self._sent) > self._keep:
                del self._sent[next(iter(self._sent))]
        return (0 if rank < order.calls_wanted else 1, rank, -order.incident_level, order.facts.pressed_at)

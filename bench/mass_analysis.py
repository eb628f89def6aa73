"""What a mass event left behind, read back: the incidents against the presses, times from each press,
the channel queue's order against the incidents' stored press times, and how the queue drained.

Pure functions over the database file and what the run recorded (``bench/mass_stack.py``).
"""

from __future__ import annotations

import calendar
import itertools
import json
import math
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.mass_stack import Press, QueueEntry
from bench.mass_watch import Sample


def epoch(stored: str) -> float:
    """A naive UTC timestamp as SQLite holds it → epoch seconds."""
    moment = datetime.fromisoformat(stored)
    return calendar.timegm(moment.timetuple()) + moment.microsecond / 1e6


@dataclass(frozen=True, slots=True)
class StoredIncident:
    id: str
    caller: str
    household_id: int | None
    press_count: int
    opened_at: float
    status: str
    level: int


def stored_incidents(db: Path) -> list[StoredIncident]:
    query = "SELECT id, caller, household_id, press_count, opened_at, status, level FROM incident"
    with sqlite3.connect(db) as conn:
        return [StoredIncident(i, c, h, p, epoch(o), s, lv) for i, c, h, p, o, s, lv in conn.execute(query)]


@dataclass
class Accounting:
    """Every press against the incidents stored: nothing lost, nothing merged, nothing extra."""

    presses: int
    incidents: int
    missing: list[str] = field(default_factory=list)  # pressed lines with no incident of their own
    extra: list[str] = field(default_factory=list)  # incidents of no press, or a second one of a press
    merged: list[str] = field(default_factory=list)  # incidents holding more than one press
    unknown_callers: int = 0

    @property
    def exact(self) -> bool:
        return self.presses == self.incidents and not (self.missing or self.extra or self.merged)


def account(presses: Sequence[Press], incidents: Sequence[StoredIncident]) -> Accounting:
    by_key = Counter(_key(i) for i in incidents)
    expected = {_press_key(p): p.line for p in presses}
    result = Accounting(len(presses), len(incidents))
    result.missing = sorted(line for key, line in expected.items() if by_key[key] == 0)
    result.extra = sorted(i.id for i in incidents if _key(i) not in expected or by_key[_key(i)] > 1)
    result.merged = sorted(i.id for i in incidents if i.press_count != 1)
    result.unknown_callers = sum(1 for i in incidents if i.household_id is None)
    return result


def _key(incident: StoredIncident) -> str:
    return f"h:{incident.household_id}" if incident.household_id is not None else f"c:{incident.caller}"


def _press_key(press: Press) -> str:
    return f"h:{press.household_id}" if press.household_id is not None else f"c:{press.line}"


def leg_events(db: Path) -> dict[str, list[tuple[float, str, str]]]:
    """Per incident: (at, leg id, status) of every leg status change, in time order."""
    found: dict[str, list[tuple[float, str, str]]] = {}
    query = "SELECT incident_id, at, data FROM incident_event WHERE kind = 'leg_status' ORDER BY at"
    with sqlite3.connect(db) as conn:
        for incident_id, at, data in conn.execute(query):
            body = json.loads(data)
            found.setdefault(incident_id, []).append((epoch(at), body["leg"], body["status"]))
    return found


def leg_rows(db: Path) -> dict[str, tuple[str, int, int, str]]:
    """leg id → (channel, level, attempt, final status)."""
    query = "SELECT id, channel, level, attempt, status FROM alert_leg"
    with sqlite3.connect(db) as conn:
        return {i: (c, lv, a, s) for i, c, lv, a, s in conn.execute(query)}


def quantiles(values: Iterable[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0, "p50": float("nan"), "p90": float("nan"), "p99": float("nan"), "max": float("nan")}

    def rank(q: float) -> float:  # nearest rank
        return ordered[max(0, math.ceil(len(ordered) * q) - 1)]

    return {"n": len(ordered), "p50": rank(0.5), "p90": rank(0.9), "p99": rank(0.99), "max": ordered[-1]}


def delays_ms(starts: dict[str, float], ends: dict[str, float]) -> dict[str, float]:
    """Per key present in both: (end - start) in ms."""
    return {key: 1000 * (ends[key] - start) for key, start in starts.items() if key in ends}


def first_ringing(events: dict[str, list[tuple[float, str, str]]]) -> dict[str, float]:
    """Per incident: when its first alert call was reported ringing (180 received)."""
    found: dict[str, float] = {}
    for incident_id, rows in events.items():
        rings = [at for at, _, status in rows if status == "ringing"]
        if rings:
            found[incident_id] = rings[0]
    return found


@dataclass
class QueueOrder:
    """The channel queue replayed: fair across incidents (service/dial_queue.py), the limit held."""

    pops: int = 0
    # A pop for an incident while another waiting incident needed a call more: it had fewer calls up
    # and was no further past its quorum's need (the queue's first two rules).
    out_of_order: int = 0
    max_calls_up: int = 0
    overtaken: int = 0  # incidents first dialled after a younger incident's first dial (engine-side delay)
    waited_ms: dict[str, float] = field(default_factory=dict)
    # Most calls one incident had up at once while another incident waited with none up.
    max_up_while_others_wait: int = 0


def check_queue(entries: Sequence[QueueEntry], opened: dict[str, float]) -> QueueOrder:
    """Replays pushes, pops and ends (a popped call over) with each incident's calls up."""
    result = QueueOrder()
    waiting: dict[str, int] = {}  # incident → legs waiting
    up: dict[str, int] = {}
    wanted: dict[str, int] = {}
    pushed_at: dict[str, float] = {}
    for entry in entries:
        incident = entry.incident_id
        if entry.kind == "push":
            pushed_at[entry.leg_id] = entry.at
            waiting[incident] = waiting.get(incident, 0) + 1
            wanted[incident] = entry.calls_wanted
            continue
        if entry.kind == "end":
            up[incident] = max(0, up.get(incident, 0) - 1)
            continue
        result.pops += 1
        result.max_calls_up = max(result.max_calls_up, entry.calls_up + 1)
        result.waited_ms[entry.leg_id] = 1000 * (entry.at - pushed_at.get(entry.leg_id, entry.at))
        mine = _need(up.get(incident, 0), wanted.get(incident, 1))
        others = [other for other, count in waiting.items() if count and other != incident]
        if any(_need(up.get(other, 0), wanted.get(other, 1)) < mine for other in others):
            result.out_of_order += 1
        if any(up.get(other, 0) == 0 for other in others):
            result.max_up_while_others_wait = max(result.max_up_while_others_wait, up.get(incident, 0) + 1)
        waiting[incident] -= 1
        up[incident] = up.get(incident, 0) + 1
    result.overtaken = _overtaken(entries, opened)
    return result


def _need(up: int, wanted: int) -> tuple[int, int]:
    return (0 if up < wanted else 1, up)


def _overtaken(entries: Sequence[QueueEntry], opened: dict[str, float]) -> int:
    """Incidents whose first call was dialled after a younger incident's first call."""
    first: dict[str, float] = {}
    for entry in entries:
        if entry.kind == "pop":
            first.setdefault(entry.incident_id, entry.at)
    ordered = sorted((opened[i], at) for i, at in first.items() if i in opened)
    count, latest_younger = 0, float("inf")
    for _, dialled in reversed(ordered):
        if dialled > latest_younger:
            count += 1
        latest_younger = min(latest_younger, dialled)
    return count


def drain(samples: Sequence[Sample], pressed_until: float, step: float = 10.0) -> dict[str, Any]:
    """The queue over time: its peak, a row every ``step`` s, and how long after the last press no leg
    waited any more (``queue_empty``), and also no call was up (``idle``), for good; ``emptied`` is the
    first moment after the last press with nothing waiting and nothing up."""
    if not samples:
        return {"max_queued": 0, "rows": [], "emptied_after_last_press_s": None,
                "queue_empty_after_last_press_s": None, "idle_after_last_press_s": None}
    start = samples[0].at
    rows, next_at = [], start
    for sample in samples:
        if sample.at >= next_at:
            rows.append({"t_s": round(sample.at - start, 1), "queued": sample.queued, "calls_up": sample.active,
                         "legs_waiting": sample.waiting, "legs_up": sample.up, "to_come": sample.later})
            next_at += step
    emptied = next((s.at - pressed_until for s in samples if s.at >= pressed_until and s.idle), None)
    return {"max_queued": max(s.queued for s in samples), "max_calls_up_sampled": max(s.active for s in samples),
            "max_legs_waiting": max(s.waiting for s in samples), "rows": rows,
            "emptied_after_last_press_s": emptied,
            "queue_empty_after_last_press_s": _for_good(samples, pressed_until, lambda s: s.queued + s.waiting == 0),
            "idle_after_last_press_s": _for_good(samples, pressed_until, lambda s: s.idle)}


def _for_good(samples: Sequence[Sample], since: float, holds: Callable[[Sample], bool]) -> float | None:
    """From ``since`` to the first sample after which ``holds`` stayed true to the end; None if it ended false."""
    after = None
    for sample in samples:
        if not holds(sample):
            after = None
        elif after is None:
            after = sample.at
    return max(0.0, after - since) if after is not None else None


def channel_seconds(samples: Sequence[Sample]) -> float:
    """Trunk channels busy × time, from the calls up at each sample (each held until the next)."""
    return sum(a.active * (b.at - a.at) for a, b in itertools.pairwise(samples))


def process_use(samples: Sequence[Sample]) -> dict[str, float]:
    """CPU (share of one core over the run) and RSS of the process that ran the service."""
    if len(samples) < 2:
        return {}
    wall = samples[-1].at - samples[0].at
    return {"cpu_share_of_one_core": (samples[-1].cpu_s - samples[0].cpu_s) / wall if wall else float("nan"),
            "cpu_peak_10s_share": _peak_cpu(samples, 10.0),
            "rss_start_mib": samples[0].rss_mib, "rss_max_mib": max(s.rss_mib for s in samples),
            "rss_end_mib": samples[-1].rss_mib}


def _peak_cpu(samples: Sequence[Sample], window: float) -> float:
    peak, j = 0.0, 0
    for i, sample in enumerate(samples):
        while samples[j].at < sample.at - window:
            j += 1
        if i > j and sample.at > samples[j].at:
            peak = max(peak, (sample.cpu_s - samples[j].cpu_s) / (sample.at - samples[j].at))
    return peak


def outcome_counts(legs: dict[str, tuple[str, int, int, str]]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    for channel, _, _, status in legs.values():
        counts.setdefault(channel, Counter())[status] += 1
    return {channel: dict(c.most_common()) for channel, c in counts.items()}

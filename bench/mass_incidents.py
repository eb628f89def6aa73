"""A mass event per incident, read back from the database after the run: press → first neighbour
ringing, → quorum, → first acknowledgement; calls placed per escalation level; summaries sent; upper-level
calls placed before the incident's neighbours were called; which incidents could meet the quorum, and
whether they did; the trunk's bound (incidents × mean call holding time ÷ channels) and the goals.

Pure functions over the database file (schema: callcenter/db/incident_tables.py; event kinds:
callcenter/domain/incident.py) and what the run recorded. They read leg statuses as plain text, so the
same analysis reads the code before a change (``--baseline``) and after it:

- a call leg is *placed* when it was actually dialled. Where the leg went through ``queued`` (handed to
  the SIP channel, waiting for a trunk channel) that is its next ``dialing``; before ``queued`` existed,
  ``dialing`` was stored at hand-over, so the dial is the leg's pop from the channel's queue as the bench
  recorded it; failing both, its first status that only a dialled call reaches;
- a call's *holding time* runs from that dial to its first final status.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.mass_analysis import epoch, quantiles

# Statuses only a call that was dialled reaches, and the final ones (callcenter/domain/types.py).
REACHED_PHONE = frozenset({"ringing", "answered", "acknowledged", "declined", "answered_without_key", "busy",
                           "no_answer"})
FINAL = frozenset({"acknowledged", "declined", "answered_without_key", "busy", "no_answer", "failed", "cancelled"})
RANG = frozenset({"ringing", "answered", "acknowledged", "declined", "answered_without_key"})
NOT_SENT = frozenset({"pending", "queued", "cancelled"})
# The demo's simulated phones (bench/mass_stack.py OUTCOME_BY_LAST_DIGIT): these answer and press 1.
ACKNOWLEDGING_DIGITS = frozenset("012345")
GOAL_BOUND_FACTOR = 1.2


@dataclass(frozen=True, slots=True)
class Leg:
    id: str
    incident_id: str
    channel: str
    purpose: str
    level: int
    status: str  # as stored at the end
    phone: str
    events: tuple[tuple[float, str], ...]  # (epoch s, status) of each change, in time order

    @property
    def is_call(self) -> bool:
        return self.channel == "call"


@dataclass(frozen=True, slots=True)
class Dials:
    """What the bench saw of the SIP channel's queue: when each leg left it to be dialled, and which legs
    were pushed onto it. ``recorded`` False: the channel kept no queue the bench could wrap."""

    popped: Mapping[str, float]
    pushed: frozenset[str]
    recorded: bool


def stored_legs(db: Path) -> dict[str, Leg]:
    """Every alert leg with its status changes (``leg_status`` events)."""
    changes: dict[str, list[tuple[float, str]]] = {}
    with sqlite3.connect(db) as conn:
        for at, data in conn.execute("SELECT at, data FROM incident_event WHERE kind = 'leg_status' ORDER BY at, id"):
            body = json.loads(data)
            changes.setdefault(body["leg"], []).append((epoch(at), str(body["status"])))
        rows = conn.execute("SELECT id, incident_id, channel, purpose, level, status, recipient_phone FROM alert_leg")
        return {i: Leg(i, inc, ch, pu, int(lv), st, ph, tuple(changes.get(i, ())))
                for i, inc, ch, pu, lv, st, ph in rows}


def first_events(db: Path, kinds: Iterable[str]) -> dict[str, dict[str, float]]:
    """kind → incident → when the incident's first event of that kind was stored."""
    found: dict[str, dict[str, float]] = {kind: {} for kind in kinds}
    marks = ", ".join("?" for _ in found)
    query = f"SELECT kind, incident_id, at FROM incident_event WHERE kind IN ({marks}) ORDER BY at, id"
    with sqlite3.connect(db) as conn:
        for kind, incident_id, at in conn.execute(query, tuple(found)):
            found[kind].setdefault(incident_id, epoch(at))
    return found


def stored_plans(db: Path) -> dict[str, list[list[dict[str, Any]]]]:
    """incident → its plan's levels, each a list of planned recipients (name, phone, role, channels)."""
    with sqlite3.connect(db) as conn:
        return {i: [level["recipients"] for level in json.loads(plan).get("levels", [])]
                for i, plan in conn.execute("SELECT id, plan FROM incident")}


def load_quorum(escalation_yaml: Path) -> tuple[int, frozenset[str]]:
    """(acknowledgements, any_of_roles) of the policy's quorum (config/escalation.yaml)."""
    quorum = yaml.safe_load(escalation_yaml.read_text(encoding="utf-8")).get("quorum", {})
    return int(quorum.get("acknowledgements", 2)), frozenset(quorum.get("any_of_roles", ()))


def can_reach_quorum(levels: list[list[dict[str, Any]]], quorum: tuple[int, frozenset[str]]) -> bool:
    """Whether the responders the plan calls (at any level: without a quorum the incident climbs them
    all) that answer and press 1 on the demo's rule are enough for the quorum. SMS are never answered."""
    acknowledging = {r["phone"]: r["role"] for level in levels for r in level
                     if "call" in r["channels"] and r["phone"][-1:] in ACKNOWLEDGING_DIGITS}
    needed, any_of_roles = quorum
    return len(acknowledging) >= needed or any(role in any_of_roles for role in acknowledging.values())


def has_neighbour_call(levels: list[list[dict[str, Any]]]) -> bool:
    return bool(levels) and any("call" in r["channels"] for r in levels[0])


def placed_at(leg: Leg, dials: Dials) -> float | None:
    """When the call leg was dialled, or None if it never was (see the module's docstring)."""
    queued = next((at for at, status in leg.events if status == "queued"), None)
    if queued is not None:
        return next((at for at, status in leg.events
                     if at >= queued and (status == "dialing" or status in REACHED_PHONE)), None)
    if leg.id in dials.popped:
        return dials.popped[leg.id]
    if leg.id in dials.pushed:  # waited in the channel's queue and never left it for a phone
        return None
    return next((at for at, status in leg.events if status == "dialing" or status in REACHED_PHONE), None)


def holding_s(leg: Leg, dialled: float) -> float | None:
    """From the dial to the leg's first final status after it."""
    return next((at - dialled for at, status in leg.events if status in FINAL and at >= dialled), None)


def first_neighbour_ringing(legs: Iterable[Leg]) -> dict[str, float]:
    """incident → its first level-0 alert call reported ringing (180), or answered if no 180 was stored."""
    found: dict[str, float] = {}
    for leg in legs:
        if leg.is_call and leg.level == 0 and leg.purpose == "alert":
            rung = next((at for at, status in leg.events if status in RANG), None)
            if rung is not None and rung < found.get(leg.incident_id, math.inf):
                found[leg.incident_id] = rung
    return found


def delay_series(pressed: Mapping[str, float], reached: Mapping[str, float],
                 eligible: set[str]) -> dict[str, Any]:
    """Press → ``reached`` in ms, over the incidents that got there; ``never`` counts the ``eligible``
    ones that did not; ``p99_of_eligible_ms`` ranks those as never arriving (None if past the 99th)."""
    delays = {i: 1000 * (reached[i] - at) for i, at in pressed.items() if i in reached}
    missing = sorted(i for i in eligible if i in pressed and i not in delays)
    counted = sorted([delays[i] for i in eligible if i in delays] + [math.inf] * len(missing))
    p99 = counted[max(0, math.ceil(len(counted) * 0.99) - 1)] if counted else math.nan
    return quantiles(delays.values()) | {
        "eligible": len([i for i in eligible if i in pressed]), "never": len(missing), "never_ids": missing[:10],
        "p99_of_eligible_ms": None if math.isinf(p99) else p99}


def calls_by_level(legs: Iterable[Leg], placed: Mapping[str, float]) -> dict[str, dict[str, int]]:
    """Per escalation level: call legs placed (dialled), and planned but never dialled."""
    done: Counter[int] = Counter()
    never: Counter[int] = Counter()
    for leg in legs:
        if leg.is_call:
            (done if leg.id in placed else never)[leg.level] += 1
    return {str(level): {"placed": done[level], "not_placed": never[level]} for level in sorted(done | never)}


def summaries(legs: Iterable[Leg]) -> dict[str, Any]:
    """Legs of purpose "summary": stored, sent (beyond pending/queued, not cancelled), to whom, per level."""
    found = [leg for leg in legs if leg.purpose == "summary"]
    sent = [leg for leg in found if leg.status not in NOT_SENT]
    return {"stored": len(found), "sent": len(sent), "recipients": len({leg.phone for leg in sent}),
            "sent_by_level": dict(sorted(Counter(str(leg.level) for leg in sent).items())),
            "by_channel": dict(Counter(leg.channel for leg in sent))}


def upper_before_neighbours(legs: Iterable[Leg], placed: Mapping[str, float],
                            with_neighbours: set[str]) -> dict[str, Any]:
    """Upper-level calls (level ≥ 1) dialled while none of the incident's level-0 calls had been yet, of
    the incidents that have a neighbour to call; examples as [incident, level, s before the first
    neighbour's call (None: never)]."""
    dialled = [leg for leg in legs if leg.is_call and leg.id in placed]
    neighbours_from: dict[str, float] = {}
    for leg in dialled:
        if leg.level == 0:
            neighbours_from[leg.incident_id] = min(placed[leg.id], neighbours_from.get(leg.incident_id, math.inf))
    upper = [leg for leg in dialled if leg.level >= 1]
    early = [(leg.incident_id, leg.level, neighbours_from.get(leg.incident_id, math.inf) - placed[leg.id])
             for leg in upper if leg.incident_id in with_neighbours
             and placed[leg.id] < neighbours_from.get(leg.incident_id, math.inf)]
    return {"upper_calls_placed": len(upper), "calls": len(early), "incidents": len({i for i, _, _ in early}),
            "examples": [[i, level, None if math.isinf(s) else round(s, 2)] for i, level, s in early[:5]]}


def trunk_bound(incidents: int, holding: list[float], channels: int, channel_seconds: float,
                calls: int) -> dict[str, Any]:
    """incidents × mean call holding time ÷ channels: when the last incident's first call could ring if
    every channel served one first call after another. Holding time as the issue defines it, dial → final
    status; beside it, the trunk channels' sampled busy time per call placed (a call stays up after its
    key, for the confirmation), and the bound that gives."""
    mean = sum(holding) / len(holding) if holding else math.nan
    per_call = channel_seconds / calls if calls else math.nan
    return {"incidents": incidents, "mean_holding_s": mean, "calls_timed": len(holding), "channels": channels,
            "bound_s": incidents * mean / channels if channels else math.nan,
            "channel_s_per_call": per_call, "bound_by_channel_time_s": incidents * per_call / channels
            if channels else math.nan}


def analyse(db: Path, pressed: Mapping[str, float], dials: Dials, trunk: tuple[int, float],
            escalation_yaml: Path) -> dict[str, Any]:
    """Everything above for one run; ``pressed``: incident → when its household's INVITE left sipp;
    ``trunk``: (channels, channel-seconds the calls held, as sampled)."""
    legs = stored_legs(db)
    placed = {leg.id: at for leg in legs.values() if leg.is_call and (at := placed_at(leg, dials)) is not None}
    holding = [h for leg_id, at in placed.items() if (h := holding_s(legs[leg_id], at)) is not None]
    plans = stored_plans(db)
    quorum = load_quorum(escalation_yaml)
    with_neighbours = {i for i, levels in plans.items() if has_neighbour_call(levels)}
    capable = {i for i, levels in plans.items() if can_reach_quorum(levels, quorum)}
    by_neighbours = {i for i, levels in plans.items() if can_reach_quorum(levels[:1], quorum)}
    acknowledging = {i for i, levels in plans.items() if can_reach_quorum(levels, (1, frozenset()))}
    events = first_events(db, ("quorum_met", "acknowledged"))
    ringing = delay_series(pressed, first_neighbour_ringing(legs.values()), with_neighbours)
    bound = trunk_bound(len(with_neighbours & set(pressed)), holding, trunk[0], trunk[1], len(placed))
    result = {
        "press_to_first_neighbour_ringing_ms": ringing,
        "press_to_quorum_ms": delay_series(pressed, events["quorum_met"], capable),
        "press_to_first_acknowledged_ms": delay_series(pressed, events["acknowledged"], acknowledging),
        "quorum": {"quorum": [quorum[0], sorted(quorum[1])], "can_reach": len(capable),
                   "reached_of_those": len(capable & set(events["quorum_met"])),
                   "missed": sorted(capable - set(events["quorum_met"]))[:10],
                   "reached_without_being_able": len(set(events["quorum_met"]) - capable),
                   # the same counting the level-0 calls alone (upper levels may get a summary, not a call)
                   "can_reach_by_neighbours": len(by_neighbours),
                   "reached_of_those_by_neighbours": len(by_neighbours & set(events["quorum_met"]))},
        "calls_by_level": calls_by_level(legs.values(), placed),
        "summaries": summaries(legs.values()),
        "upper_before_neighbours": upper_before_neighbours(legs.values(), placed, with_neighbours),
        "dials_recorded_from_queue": dials.recorded,
        "trunk_bound": bound,
    }
    return result | {"goals": goals(result)}


def goals(result: dict[str, Any]) -> dict[str, Any]:
    """The issue's goals, each with the figures it was judged on. The first is the issue's bound (holding
    time = dial → final status); the second the same against the trunk's sampled busy time per call,
    which a call holds its channel for (it stays up after the key, for the confirmation)."""
    bound = result["trunk_bound"]
    p99 = result["press_to_first_neighbour_ringing_ms"]["p99_of_eligible_ms"]
    quorum = result["quorum"]
    return {
        "p99_first_ringing_le_1.2_bound": _within(p99, bound["bound_s"]),
        "p99_first_ringing_le_1.2_channel_bound": _within(p99, bound["bound_by_channel_time_s"]),
        "capable_incidents_reach_quorum": {"met": quorum["reached_of_those"] == quorum["can_reach"],
                                                  "reached": quorum["reached_of_those"], "of": quorum["can_reach"]},
        "no_upper_call_before_neighbours": {"met": result["upper_before_neighbours"]["calls"] == 0,
                                            "calls": result["upper_before_neighbours"]["calls"]},
    }


def _within(p99_ms: float | None, bound_s: float) -> dict[str, Any]:
    limit_ms = GOAL_BOUND_FACTOR * 1000 * bound_s
    return {"met": p99_ms is not None and p99_ms <= limit_ms, "p99_ms": p99_ms, "limit_ms": limit_ms}

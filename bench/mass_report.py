"""A mass event's figures printed: the run's own summary, and the issue's figures of this code and the
baseline side by side (``bench/mass_event.py``)."""

from __future__ import annotations

import json
from typing import Any


def print_summary(result: dict[str, Any]) -> None:
    acc = result["accounting"]
    print(f"presses {result['presses']}  incidents {acc['incidents']}  exact {acc['exact']}  "
          f"missing {len(acc['missing'])}  extra {len(acc['extra'])}  merged {len(acc['merged'])}  "
          f"unknown callers {acc['unknown_callers']}  (sipp exit {result['sipp_exit_code']}, Kamailio out of "
          f"shared memory {result['registrar_out_of_memory']} times)")
    for name in ("press_to_hook_ms", "press_to_stored_ms", "press_to_announced_ms", "press_to_listed_ms",
                 "press_to_first_ringing_ms"):
        q = result[name]
        print(f"  {name:28} n={q['n']:5}  p50 {q['p50']:9.1f}  p99 {q['p99']:9.1f}  max {q['max']:9.1f}")
    print(f"  listed later than 1 s: {result['listed_over_1s']}   rows pushed live: {result['screen_pushed_rows']}   "
          f"last incident press → first ringing: "
          f"{result['last_incident_press_to_first_ringing_ms']}")
    slow = result["listed_over_1s_at"]
    if slow:
        print(f"  listed later than 1 s, pressed at {slow[0][0]:.1f}–{slow[-1][0]:.1f} s of the run")
    pauses = result.get("pauses", {})
    print(f"  process pauses over {pauses.get('pauses_over_ms')} ms (s, ms): {pauses.get('pauses')}")
    print(f"  collections over {pauses.get('collections_over_ms')} ms (s, generation, ms): {pauses.get('collections')}")
    print(f"  speech synthesizer: {json.dumps(result.get('synthesizer'))}; announcements rendered ahead: "
          f"{result.get('announcements_rendered_ahead')}")
    turns = result.get("write_turns", {})
    print(f"  write turns: {turns.get('count')} held (ms) {json.dumps(turns.get('held_ms'))}; longest (s, waited ms, "
          f"held ms, tier, by): {json.dumps(turns.get('longest', [])[:5], ensure_ascii=False)}")
    print(f"  queue: {json.dumps(result['queue'])}")
    drain = result["drain"]
    print(f"  drain: max queued {drain['max_queued']}, emptied {drain['emptied_after_last_press_s']} s after "
          f"the last press; rows {drain['rows']}")
    print(f"  process: {json.dumps(result['process'])}")
    print(f"  legs: {json.dumps(result['legs'], ensure_ascii=False)}")
    print(f"  incidents: {result['incident_status']}")
    if "twilio" in result:
        print(f"  twilio: {json.dumps(result['twilio'])}")


def _s(ms: float | None) -> str:
    return "—" if ms is None or ms != ms else f"{ms / 1000:.1f}"


def _series(q: dict[str, Any]) -> str:
    return (f"{_s(q['p50'])} / {_s(q['p90'])} / {_s(q['p99'])} / {_s(q['max'])} s; "
            f"{q['n']} got there, {q['never']} of {q['eligible']} never")


def incident_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """The issue's figures of one run, as (what, value) rows."""
    if "per_incident" not in result:
        return [("error", str(result.get("error", "no per-incident figures")))]
    inc, drain, wait = result["per_incident"], result["drain"], result.get("drain_wait", {})
    bound, goals = inc["trunk_bound"], inc["goals"]
    ringing, summaries = inc["press_to_first_neighbour_ringing_ms"], inc["summaries"]
    return [
        ("incidents (presses)", f"{result['accounting']['incidents']} ({result['presses']})"),
        ("press → first neighbour ringing p50/p90/p99/max", _series(ringing)),
        ("  p99 of all, never rung = ∞", _p99(ringing)),
        ("press → quorum p50/p90/p99/max", _series(inc["press_to_quorum_ms"])),
        ("press → acknowledged p50/p90/p99/max", _series(inc["press_to_first_acknowledged_ms"])),
        ("quorum met / can meet it", f"{inc['quorum']['reached_of_those']} / {inc['quorum']['can_reach']}"),
        ("  by their neighbours' calls alone", f"{inc['quorum'].get('reached_of_those_by_neighbours', '—')} / "
                                              f"{inc['quorum'].get('can_reach_by_neighbours', '—')}"),
        ("calls placed per level (not placed)", ", ".join(f"L{lv} {c['placed']} ({c['not_placed']})"
                                                          for lv, c in inc["calls_by_level"].items()) or "none"),
        ("summaries sent (recipients) of stored", f"{summaries['sent']} ({summaries['recipients']}) of "
                                                  f"{summaries['stored']}"),
        ("upper-level calls before neighbours", f"{inc['upper_before_neighbours']['calls']} of "
                                                f"{inc['upper_before_neighbours']['upper_calls_placed']} placed"),
        ("after the last press: queue empty / no call up", f"{_num(drain.get('queue_empty_after_last_press_s'))} / "
                                                            f"{_num(drain.get('idle_after_last_press_s'))} s"),
        ("settled (cap; waited)", f"{wait.get('drained')} ({wait.get('cap_s') or 'none'}; "
                                  f"{_num(wait.get('waited_s'))} s)" + "  SAFETY CAP HIT" * bool(
                                      wait.get("safety_cap_hit"))),
        ("trunk bound: incidents × holding ÷ channels", f"{bound['incidents']} × {bound['mean_holding_s']:.1f} s ÷ "
                                                        f"{bound['channels']} = {bound['bound_s']:.1f} s"),
        ("  by channel time per call instead", f"{bound['channel_s_per_call']:.1f} s → "
                                               f"{bound['bound_by_channel_time_s']:.1f} s"),
        *((f"goal: {name}", _goal(goal)) for name, goal in goals.items()),
    ]


def _goal(goal: dict[str, Any]) -> str:
    figures = ", ".join(f"{k.removesuffix('_ms')} {_timed(v) if k.endswith('_ms') else v}"
                        for k, v in goal.items() if k != "met")
    return f"{'met' if goal['met'] else 'NOT MET'}: {figures}"


def _timed(ms: float | None) -> str:
    return "never" if ms is None else f"{_s(ms)} s"


def _p99(series: dict[str, Any]) -> str:
    p99 = series["p99_of_eligible_ms"]
    return f"{_s(p99)} s" if p99 is not None else f"never ({series['never']} of {series['eligible']} never rang)"


def _num(value: float | None) -> str:
    return "—" if value is None or value != value else f"{value:.1f}"


def print_side_by_side(runs: dict[str, dict[str, Any]]) -> None:
    """One column per run (this code, then the baseline), one row per figure."""
    columns = {label: dict(incident_rows(result)) for label, result in runs.items()}
    names = list(dict.fromkeys(name for rows in columns.values() for name in rows))
    width = max(len(label) for label in columns)
    width = max(width, *(len(value) for rows in columns.values() for value in rows.values())) + 2
    print(f"{'':50}" + "".join(f"{label:{width}}" for label in columns))
    for name in names:
        print(f"{name:50}" + "".join(f"{rows.get(name, ''):{width}}" for rows in columns.values()).rstrip())

"""Caller trust under attack: spoofed 995 presses and injected key presses while genuine households press.

    .venv/bin/python -m bench.sip_attack [--seconds 60] [--spoofed 1000] [--dtmf 10000] [--households 50]
    .venv/bin/python -m bench.sip_attack --smoke        # = --seconds 5 --spoofed 20 --dtmf 200 --households 5

Kamailio runs the shipped config/kamailio/production.cfg with its SQLite subscriber database (made by
scripts/kamailio-db.sh) on loopback; the service runs as `callcenter serve` in a process of its own
(SQLite with the district demo directory, the shipped flows and policy with the unverified hold made
longer than the run, the SIP channel registered with digest). Addresses stand for machines
(bench/sip_attack_rig.py). Two phases, one after the other, each ``--seconds`` long:

1. *Baseline*: ``--households`` genuine households, each of its own joint-defense group, press 995 from
   the address and port they registered (trust ``registered``), evenly over the phase.
2. *Attack*: as many other genuine households press the same way while attackers on 127.0.1.x send
   ``--spoofed`` 995 INVITEs with households' numbers in From, a forged P-Asserted-Identity and a forged
   X-995-Caller-Trust: three for each genuine household of the phase in the seconds before (or, for the
   first ones, after) its own press, the rest each for another household of the district; and an
   attacker who reads the alert calls' SDP off the signalling sprays ``--dtmf`` RFC 2833 "1" packets at
   the RTP ports of the live alert calls, from addresses other than the phones', before and after
   their answer.

Neighbours' phones: every neighbour's mobile answers behind the carrier trunk (one sipp UAS: rings
1.5 s, answers, listens 4 s without a key, hangs up), except two per genuine household, registered at
the edge with digest, who press 1. Every INVITE a phone receives is in its message trace with its
Request-URI; a number belongs to one household's group, so the phones tell who was rung for whom.

Figures: spoofed presses sent and answered; incidents opened unverified, held, with a call leg;
neighbour INVITEs caused by attacks (to a spoofed household's neighbours, or to a genuine one's
before it pressed); false acknowledgements (legs acknowledged whose phone never pressed 1, or
acknowledged before it did; read from the database); genuine presses fanned out (every level-0
neighbour INVITEd) and press → last level-0 INVITE at the phones, p50 / p99 / max, per phase and the
ratio; the service process's CPU seconds and peak RSS per phase (/proc). Results go to
bench/results/sip-attack-<time>/result.json; figures to docs/benchmarks.md with this command.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import RESULTS, machine
from bench.mass_event import district_template
from bench.mass_stack import national, press_times
from bench.sip_attack_media import KeySpray, PhoneCall, PhoneCalls, PhoneTrace, is_invite_ok
from bench.sip_attack_rig import (
    HOUSEHOLD_HOSTS,
    PRESSER_HOSTS,
    TRUNK_HOST,
    Edge,
    ProcWatch,
    ServiceProcess,
    callers,
    policy_with_long_hold,
    traced_phone,
)

PRESSERS_PER_HOUSEHOLD = 2  # the policy's quorum: the incident is acknowledged and climbs no further
SPOOFS_PER_GENUINE = 3  # a line's counted presses a minute (repeat_press.counted_per_minute)
ATTACK_REQUESTS_PER_HOST = 8.0  # per second and address: pike bans more than 30 requests in 2 s
LISTENER, PRESSER = "neighbour_listens_hangs_up", "neighbour_press_1_logged"
PRESSED = "pressed 1 to INVITE sip:"


@dataclass(frozen=True, slots=True)
class Household:
    line: str  # as stored (+86…)
    household_id: int
    neighbours: tuple[str, ...]  # its level-0 call recipients: the group's other households' contacts

    @property
    def dialled(self) -> str:
        return national(self.line)


@dataclass
class Directory:
    """Households drawn from the district directory: genuine ones of distinct groups with disjoint
    neighbours, and the households attackers pretend to be (other groups)."""

    baseline: list[Household]
    attack: list[Household]
    targets: list[Household]

    def genuine(self) -> list[Household]:
        return [*self.baseline, *self.attack]

    def pressers(self) -> list[str]:
        return [n for h in self.genuine() for n in h.neighbours[:PRESSERS_PER_HOUSEHOLD]]


def draw_directory(db: Path, genuine: int, targets: int, seed: int) -> Directory:
    rng = random.Random(seed)
    with sqlite3.connect(db) as conn:
        lines: dict[int, list[str]] = {}
        for hid, number in conn.execute("SELECT household_id, number FROM emergency_line ORDER BY number"):
            lines.setdefault(int(hid), []).append(str(number))
        members: dict[int, list[int]] = {}
        for hid, group in conn.execute("SELECT id, group_id FROM household"):
            members.setdefault(int(group), []).append(int(hid))
        contacts: dict[int, list[tuple[int, str]]] = {}
        for group, hid, phone in conn.execute("SELECT scope_id, household_id, phone FROM responder "
                                              "WHERE role = 'household_contact'"):
            contacts.setdefault(int(group), []).append((int(hid), str(phone)))
    groups = sorted(members)
    rng.shuffle(groups)
    used: set[str] = set()
    chosen: list[Household] = []
    for group in groups:
        hid = rng.choice(sorted(h for h in members[group] if h in lines))
        own = set(lines[hid])
        neighbours = tuple(sorted({p for h, p in contacts.get(group, []) if h != hid and p not in own}))
        if len(neighbours) <= PRESSERS_PER_HOUSEHOLD or used & set(neighbours):
            continue
        used |= set(neighbours)
        chosen.append(Household(lines[hid][0], hid, neighbours))
        if len(chosen) == genuine + targets:
            break
    if len(chosen) < genuine + targets:
        raise RuntimeError(f"the directory has {len(chosen)} groups to draw from, {genuine + targets} needed")
    half = genuine // 2
    return Directory(chosen[:half], chosen[half:genuine], chosen[genuine:])


def spoof_schedule(attack: list[Household], targets: list[Household], spoofed: int, seconds: float,
                   hosts: int) -> list[list[str]]:
    """The lines attackers press, per attacking address in sending order: ``spoofed`` presses evenly over
    ``seconds``; each genuine household's line three times in the seconds before its own press (after
    it for the first ones), every other press for a household of its own."""
    slot = seconds / spoofed
    lines: list[str | None] = [None] * spoofed
    gap = max(slot, min(2.0, seconds / 10))
    for n, household in enumerate(attack):
        pressed_at = n * seconds / len(attack)
        for k in range(1, SPOOFS_PER_GENUINE + 1):
            wanted = pressed_at - k * gap if pressed_at - k * gap >= 0 else pressed_at + k * gap
            free = sorted((i for i in range(spoofed) if lines[i] is None), key=lambda i: abs(i * slot - wanted))
            if free:
                lines[free[0]] = household.dialled
    others = iter(targets)
    filled = [line if line is not None else next(others).dialled for line in lines]
    return [filled[h::hosts] for h in range(hosts)]


@dataclass
class Phase:
    name: str
    households: list[Household]
    started: float = 0.0
    ended: float = 0.0
    proc: dict[str, float] = field(default_factory=dict)
    spray: dict[str, int] = field(default_factory=dict)
    spoofed_sent: int = 0
    spoofed_answered: int = 0
    pressed: dict[str, float] = field(default_factory=dict)  # dialled line → its INVITE left sipp (epoch s)


def run(args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    data_dir = run_dir / "data"
    data_dir.mkdir(parents=True)
    shutil.copy(args.directory or district_template(), data_dir / "callcenter.db")
    directory = draw_directory(data_dir / "callcenter.db", 2 * args.households,
                               max(0, args.spoofed - SPOOFS_PER_GENUINE * args.households), args.seed)
    phones_dir = run_dir / "phones"
    pressers = directory.pressers()
    presser_phones = [traced_phone(PRESSER, phones_dir, host, f"presser-{n}") for n, host in enumerate(PRESSER_HOSTS)]
    subscribers = [*(h.dialled for h in directory.genuine()), *pressers]
    rig = Edge.build(run_dir / "edge", subscribers, traced_phone(LISTENER, phones_dir, TRUNK_HOST, "trunk"),
                     presser_phones)
    households = [callers("household_press_hold", run_dir / f"{name}-households", host, rig.kamailio.port,
                          [h.dialled for h in group], args.seconds, 3000)
                  for name, host, group in zip(("baseline", "attack"), HOUSEHOLD_HOSTS,
                                               (directory.baseline, directory.attack), strict=True)]
    rig.start()
    service: ServiceProcess | None = None
    try:
        rig.register_all([
            *((phone.host, pressers[n::len(presser_phones)], phone.port) for n, phone in enumerate(presser_phones)),
            *((caller.host, [h.dialled for h in group], caller.port)
              for caller, group in zip(households, (directory.baseline, directory.attack), strict=True))])
        service = ServiceProcess.start(data_dir, rig.kamailio.port, policy_with_long_hold(run_dir),
                                       channels=args.channels, rtp_ports=args.channels + 200)
        phones = PhoneCalls.of([phones_dir / "trunk-messages.log",
                                *(phones_dir / f"presser-{n}-messages.log" for n in range(len(presser_phones)))])
        watch = ProcWatch(service.pid).start()
        phases = [Phase("baseline", directory.baseline), Phase("attack", directory.attack)]
        for phase, caller in zip(phases, households, strict=True):
            attack = phase.name == "attack"
            run_phase(phase, caller, rig, phones, watch, args, directory if attack else None, run_dir)
        watch.stop()
    finally:
        if service is not None:
            service.stop()
        rig.stop()
    return report(args, directory, phases, phones.snapshot(complete=True), data_dir / "callcenter.db", phones_dir)


def run_phase(phase: Phase, caller: Any, rig: Edge, phones: PhoneCalls, watch: ProcWatch, args: argparse.Namespace,
              directory: Directory | None, run_dir: Path) -> None:
    """One phase: the genuine households press (and, with ``directory``, the attackers attack) over
    ``args.seconds``; then until every alert call has ended (at most ``args.drain_cap`` s)."""
    attackers: list[Any] = []
    spray: KeySpray | None = None
    start = watch.mark()
    phase.started = start.at
    if directory is not None:
        hosts = max(2, math.ceil(3 * args.spoofed / args.seconds / ATTACK_REQUESTS_PER_HOST))
        schedule = spoof_schedule(directory.attack, directory.targets, args.spoofed, args.seconds, hosts)
        attackers = [callers("attacker_spoofed_press", run_dir / f"attacker-{n}", f"127.0.1.{n + 1}",
                             rig.kamailio.port, host_lines, args.seconds, 1000).start()
                     for n, host_lines in enumerate(schedule) if host_lines]
        spray = KeySpray(phones, args.dtmf, args.seconds).start() if args.dtmf else None
        phase.spoofed_sent = sum(len(host_lines) for host_lines in schedule)
    caller.start()
    for sipp in (caller, *attackers):
        sipp.wait(timeout=args.seconds + 120)
    wait_calls_ended(phones, phase.started, args.drain_cap, spray)
    end = watch.mark()
    phase.ended = end.at
    phase.proc = watch.phase(start, end)
    if spray is not None:
        count = spray.stop()
        phase.spray = {"sent": count.sent, "before_answer": count.before_answer, "after_answer": count.after_answer,
                       "calls_hit": len(count.calls), "port_closed": count.refused}
    phase.pressed = press_times(caller.work_dir / "messages.log")
    phase.spoofed_answered = sum(answered(a.work_dir / "messages.log") for a in attackers)


def wait_calls_ended(phones: PhoneCalls, since: float, cap_s: float, spray: KeySpray | None) -> None:
    """Until every alert call the phones received since ``since`` has ended, none came in the last 3 s
    and the spray has sent its packets; at most ``cap_s``."""
    deadline = time.monotonic() + cap_s
    while time.monotonic() < deadline:
        calls = [c for c in phones.snapshot() if c.invited_at >= since]
        quiet = not calls or time.time() - max(c.invited_at for c in calls) >= 3.0
        if quiet and all(c.ended_at is not None for c in calls) and (spray is None or spray.done()):
            return
        time.sleep(0.5)


def answered(message_log: Path) -> int:
    """Calls a sipp caller saw answered (200 to its INVITE), from its message trace."""
    entries = PhoneTrace(message_log).entries(complete=True)
    return sum(1 for _, way, message in entries if way == "received" and is_invite_ok(message))


# -- figures -----------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)] if ordered else float("nan")


def figures(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": round(percentile(values, 0.5), 1), "p99": round(percentile(values, 0.99), 1),
            "max": round(max(values), 1) if values else float("nan")}


def fan_out(phase: Phase, calls: list[PhoneCall]) -> tuple[int, list[float]]:
    """Genuine presses whose every level-0 neighbour was INVITEd after the press, and press → the last
    of those INVITEs at the phones (ms)."""
    first: dict[str, list[float]] = {}
    for call in calls:
        first.setdefault(call.number, []).append(call.invited_at)
    done, latencies = 0, []
    for household in phase.households:
        pressed = phase.pressed.get(household.dialled)
        if pressed is None:
            continue
        reached = [min((t for t in first.get(n, []) if t >= pressed - 0.05), default=None)
                   for n in household.neighbours]
        if all(t is not None for t in reached):
            done += 1
            latencies.append(1000 * (max(t for t in reached if t is not None) - pressed))
    return done, latencies


def attack_rung(directory: Directory, phases: list[Phase], calls: list[PhoneCall]) -> dict[str, int]:
    """INVITEs the phones received because of an attack: to a spoofed household's neighbours, or to a
    genuine household's neighbours before it pressed. Unexplained: to a number of nobody drawn."""
    spoofed = {n for h in directory.targets for n in h.neighbours}
    pressed_at = {n: phase.pressed.get(h.dialled, float("inf")) for phase in phases for h in phase.households
                  for n in h.neighbours}
    to_targets = sum(1 for c in calls if c.number in spoofed)
    before_press = sum(1 for c in calls if c.number in pressed_at and c.invited_at < pressed_at[c.number] - 0.05)
    unexplained = sum(1 for c in calls if c.number not in spoofed and c.number not in pressed_at)
    return {"to_spoofed_households_neighbours": to_targets, "to_genuine_neighbours_before_the_press": before_press,
            "total": to_targets + before_press, "unexplained": unexplained}


def keys_pressed(phones_dir: Path) -> dict[str, list[float]]:
    """Number dialled → when its presser phone sent 1 (epoch s), from the phones' -trace_logs files."""
    pressed: dict[str, list[float]] = {}
    for log in phones_dir.glob("presser-*-logs.log"):
        for line in log.read_text(errors="replace").splitlines():
            stamp, found, number = line.partition(f" {PRESSED}")
            if found:
                pressed.setdefault(number.strip(), []).append(float(stamp.split("\t")[-1]))
    return pressed


def database_figures(db: Path, directory: Directory, pressed: dict[str, list[float]]) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        incidents = conn.execute("SELECT i.caller, i.caller_trust, i.level, i.status, "
                                 "(SELECT COUNT(*) FROM alert_leg l WHERE l.incident_id = i.id AND l.channel = 'call') "
                                 "FROM incident i").fetchall()
        acks = conn.execute("SELECT recipient_phone, updated_at FROM alert_leg WHERE status = 'acknowledged' "
                            "AND channel = 'call' AND purpose = 'alert'").fetchall()
    unverified = [row for row in incidents if row[1] == "unverified"]
    targets = {h.line for h in directory.targets}
    spoofed = [row for row in incidents if row[0] in targets]
    genuine_lines = {h.line for h in directory.genuine()}
    genuine = [row for row in incidents if row[0] in genuine_lines]
    false_acks, genuine_acks = [], 0
    for phone, updated in acks:
        at = datetime.fromisoformat(str(updated)).replace(tzinfo=UTC).timestamp()
        if any(key <= at + 0.01 for key in pressed.get(str(phone), [])):
            genuine_acks += 1
        else:
            false_acks.append(str(phone))
    return {
        "incidents": len(incidents),
        "unverified": len(unverified),
        "spoofed_households": {"incidents": len(spoofed), "unverified": sum(1 for r in spoofed if r[1] == "unverified"),
                               "held": sum(1 for r in spoofed if _held(r)),
                               "with_call_legs": sum(1 for r in spoofed if r[4])},
        "genuine_households": {"incidents": len(genuine), "registered": sum(1 for r in genuine if r[1] == "registered"),
                               "opened_unverified": sum(1 for r in genuine if r[1] == "unverified"),
                               "still_held": sum(1 for r in genuine if _held(r))},
        "acknowledged_legs": len(acks), "acknowledged_by_a_pressed_key": genuine_acks,
        "false_acknowledgements": len(false_acks), "false_ack_numbers": false_acks[:20],
        "keys_pressed": sum(len(v) for v in pressed.values()),
    }


def _held(row: tuple[Any, ...]) -> bool:
    return bool(row[2] == -1 and row[3] not in ("resolved", "cancelled", "false_alarm"))


def report(args: argparse.Namespace, directory: Directory, phases: list[Phase], calls: list[PhoneCall], db: Path,
           phones_dir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"machine": machine(), "args": vars(args), "load_average": list(_load())}
    for phase in phases:
        inside = [c for c in calls if phase.started <= c.invited_at <= phase.ended]
        done, latencies = fan_out(phase, inside)
        result[phase.name] = {"households": len(phase.households), "pressed": len(phase.pressed),
                              "fanned_out": done, "press_to_last_level0_invite_ms": figures(latencies),
                              "alert_calls_at_phones": len(inside), "service": phase.proc, "spray": phase.spray,
                              "spoofed_sent": phase.spoofed_sent, "spoofed_answered": phase.spoofed_answered}
    result["attack_rung"] = attack_rung(directory, phases, calls)
    result["database"] = database_figures(db, directory, keys_pressed(phones_dir))
    base, attack = (result[p]["press_to_last_level0_invite_ms"]["p99"] for p in ("baseline", "attack"))
    result["p99_ratio"] = round(attack / base, 2) if base and base == base else float("nan")
    return result


def _load() -> tuple[float, float, float]:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def print_table(result: dict[str, Any]) -> None:
    base, attack, db, rung = result["baseline"], result["attack"], result["database"], result["attack_rung"]
    spoofed, genuine = db["spoofed_households"], db["genuine_households"]
    rows = [
        ("spoofed presses sent / answered by the service", "",
         f"{attack['spoofed_sent']} / {attack['spoofed_answered']}"),
        ("spoofed households' incidents: unverified / held / with a call leg", "",
         f"{spoofed['unverified']} / {spoofed['held']} / {spoofed['with_call_legs']}"),
        ("genuine households' incidents opened by a spoof / still held", "",
         f"{genuine['opened_unverified']} / {genuine['still_held']}"),
        ("injected '1' packets: before / after the answer (calls hit)", "",
         f"{attack['spray'].get('before_answer', 0)} / {attack['spray'].get('after_answer', 0)} "
         f"({attack['spray'].get('calls_hit', 0)})"),
        ("neighbour INVITEs from attacks (goal 0)", "", f"{rung['total']} (unexplained {rung['unexplained']})"),
        ("false acknowledgements (goal 0)", "", f"{db['false_acknowledgements']} of {db['acknowledged_legs']} acked"),
        ("genuine presses fanned out", f"{base['fanned_out']}/{base['households']}",
         f"{attack['fanned_out']}/{attack['households']}"),
    ]
    for name in ("p50", "p99", "max"):
        rows.append((f"press → last level-0 INVITE {name} (ms)", f"{base['press_to_last_level0_invite_ms'][name]:.1f}",
                     f"{attack['press_to_last_level0_invite_ms'][name]:.1f}"))
    rows.append(("p99 attack / baseline (goal ≤ 1.2×)", "", f"{result['p99_ratio']:.2f}×"))
    for label, key in (("service CPU s (own; synthesizer children)", "cpu_s"),
                       ("service peak RSS MiB", "rss_peak_mib")):
        b, a = base["service"], attack["service"]
        extra = (f" ({b['children_cpu_s']}; {b['cores']} cores)", f" ({a['children_cpu_s']}; {a['cores']} cores)") \
            if key == "cpu_s" else ("", "")
        rows.append((label, f"{b[key]}{extra[0]}", f"{a[key]}{extra[1]}"))
    print(f"\n{'':62} {'baseline':>22} {'attack':>26}")
    for name, b_value, a_value in rows:
        print(f"{name:62} {b_value:>22} {a_value:>26}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    parser.add_argument("--spoofed", type=int, default=1000, help="spoofed 995 presses in the attack phase")
    parser.add_argument("--dtmf", type=int, default=10_000, help="injected RFC 2833 '1' packets in the attack phase")
    parser.add_argument("--households", type=int, default=50, help="genuine households pressing in each phase")
    parser.add_argument("--channels", type=int, default=400, help="the service's concurrent alert calls")
    parser.add_argument("--drain-cap", type=float, default=90.0, help="cap on waiting for a phase's calls to end")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--directory", type=Path, default=None,
                        help="a directory database to copy (default: the district demo directory)")
    parser.add_argument("--smoke", action="store_true", help="tiny: 5 s, 20 spoofed, 200 packets, 5 households")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seconds, args.spoofed, args.dtmf, args.households = 5.0, 20, 200, 5
    if args.spoofed < SPOOFS_PER_GENUINE * args.households:
        parser.error(f"--spoofed must be at least {SPOOFS_PER_GENUINE} × --households")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = RESULTS / f"sip-attack-{stamp}"
    result = run(args, run_dir) | {"started": stamp}
    (run_dir / "result.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    print_table(result)
    print(f"kept: {run_dir}")
    return result


if __name__ == "__main__":
    main()

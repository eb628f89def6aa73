"""kill -9 trials during fan-out, shared by the crash test (20 trials) and ``bench/crash.py`` (100).

Each trial starts an engine process (``python -m callcenter.standalone``, forked from the fork
server) on the site's database, presses one or two households' keys and kills the process with
SIGKILL at a seeded random moment: while it starts, while it stores the press, while legs are
being placed, while outcomes come in, while it recovers what an earlier victim left. A survivor
then runs to the end. The placement log (fsynced before each channel reply) is the ground truth
of what was placed; :func:`check_placements` compares it with the database.

Escalation resumed: a process started while incidents of earlier (killed) processes were still
unfinished has *resumed* them at the first placement it logs for a leg of one of those incidents
(an interrupted leg replaced, a due leg or redial placed, a new level's leg after an overdue
escalation fired). :attr:`Restart.resume_seconds` is the time from spawning the process to that
placement, both on the wall clock of this machine.

With the SIP call channel (:func:`sip_site`) alert calls go through a real Kamailio to one sipp
phone ringing for every responder; the phone's message trace replaces the log for calls (each
INVITE it received is paired with the call leg a process claimed for that number while it ran,
see :class:`SipLedger`), the log stays the ground truth for SMS.
"""

from __future__ import annotations

import bisect
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from engine_process import TOP_LEVEL, EngineProcess, Site, leg_rows, make_site, unfinished
from sip.harness import Kamailio, free_udp_port
from sip_rig import RESPONDER_TRACE, PhoneTrace, register_responders, responders_phone, sip_env, stored_form
from sqlalchemy import select

from callcenter.adapters.recording import PlacementLog
from callcenter.db.incident_repo import SqlIncidentStore
from callcenter.db.incident_tables import AlertLegRow
from callcenter.domain.types import LegStatus

SEED = 995
# Alert calls ring this long at the never-answering phone before we CANCEL them: a kill 0-1 s
# after the presses are stored finds the first level's calls ringing, and a chain of four levels
# with one redial each still ends within seconds.
SIP_RING_SECONDS = 2.0
SIP_CHANNELS = 300


@dataclass
class Restart:
    """One engine process, started while ``pending`` incidents were left unfinished by killed ones."""

    name: str
    pid: int
    started_at: float  # time.time() just before the process was spawned
    pending: frozenset[str]
    resumed_at: float | None = None
    killed_in_startup: bool = False  # a trial that kills anywhere from start-up on, on purpose

    @property
    def resume_seconds(self) -> float | None:
        return None if self.resumed_at is None else self.resumed_at - self.started_at

    def observe(self, placements: list[dict[str, Any]]) -> float | None:
        """The first placement this process logged for a leg of an incident it inherited."""
        times = [p["at"] for p in placements if p["pid"] == self.pid and incident_of(p["leg"]) in self.pending]
        self.resumed_at = min(times, default=None)
        return self.resumed_at


@dataclass
class TrialRun:
    reported: dict[str, str] = field(default_factory=dict)  # caller → incident id, as the processes printed
    restarts: list[Restart] = field(default_factory=list)


class Ledger(Protocol):
    """What the processes placed (leg, attempt, pid, at), whatever became of them afterwards."""

    def read(self, restarts: Sequence[Restart]) -> list[dict[str, Any]]: ...


@dataclass
class LogLedger:
    """The recording channel's fsynced placement log."""

    log: PlacementLog

    def read(self, restarts: Sequence[Restart]) -> list[dict[str, Any]]:
        return self.log.read()


def incident_of(leg_id: str) -> str:
    return leg_id.split("/", 1)[0]


def start(site: Site, store: SqlIncidentStore, name: str, presses: list[str], forked: bool = True,
          seconds: float = 120) -> tuple[EngineProcess, Restart]:
    pending = frozenset(unfinished(store))
    started_at = time.time()
    process = site.start(name, presses, forked=forked, seconds=seconds)
    return process, Restart(name, process.pid, started_at, pending)


def wait_resumed(ledger: Ledger, restarts: list[Restart], process: EngineProcess, timeout: float) -> bool:
    """Until the last of ``restarts`` placed a leg of an inherited incident (or died, or ``timeout`` passed)."""
    restart = restarts[-1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.alive:
        if restart.observe(ledger.read(restarts)) is not None:
            return True
        time.sleep(0.1)
    return restart.observe(ledger.read(restarts)) is not None


def stored_all(presses: list[str]) -> Callable[[EngineProcess], bool]:
    return lambda process: set(presses) <= set(process.incidents())


def run_trials(site: Site, rng: random.Random, trials: int, resume_timeout: float = 0.0,
               ledger: Ledger | None = None) -> TrialRun:
    """Start, press and kill ``trials`` times. With ``resume_timeout``, each process that inherited
    unfinished incidents is first given that long to resume them (the benchmark times every restart)."""
    ledger = ledger or LogLedger(site.log)
    run = TrialRun()
    callers = iter(site.callers)
    store = site.store
    for trial in range(trials):
        presses = [next(callers)] + ([next(callers)] if trial % 3 == 0 else [])
        process, restart = start(site, store, f"trial{trial:03d}", presses)
        run.restarts.append(restart)
        if trial % 5 == 4:
            # Anywhere from start-up to fan-out: the press may not even be stored yet.
            restart.killed_in_startup = True
            process.wait_for(lambda p: False, rng.uniform(0.0, 0.8))
        else:
            stored = process.wait_for(stored_all(presses), 30)
            assert stored, f"trial {trial}: no press stored within 30 s:\n{process.output()}"
            if resume_timeout and restart.pending:
                wait_resumed(ledger, run.restarts, process, resume_timeout)
            process.wait_for(lambda p: False, rng.uniform(0.0, 1.0))
        process.kill()
        restart.observe(ledger.read(run.restarts))
        run.reported |= process.incidents()
    store.engine.dispose()
    return run


@dataclass
class Findings:
    """What the placement log and the database say after the trials; every list must be empty."""

    incidents: int
    legs: int
    placements: int
    lost_incidents: list[str]
    placed_twice: list[str]
    placed_unknown: list[str]
    handed_over_unlogged: list[str]
    never_placed: list[str]
    interrupted_not_replaced: list[str]
    unfinished_escalations: list[str]
    interrupted: int
    interrupted_after_placing: int
    max_level: int
    redials: int
    failed_unplaced: list[str]  # failed by the channel before placing them (allowed for SIP only)
    ended_unplaced: list[str]  # SIP: a recipient's last attempt failed undialled, nothing placed after it

    def problems(self) -> dict[str, list[str]]:
        names = ("lost_incidents", "placed_twice", "placed_unknown", "handed_over_unlogged", "never_placed",
                 "interrupted_not_replaced", "unfinished_escalations", "ended_unplaced")
        return {name: getattr(self, name) for name in names if getattr(self, name)}


def check_placements(site: Site, store: SqlIncidentStore, reported: dict[str, str],
                     placements: list[dict[str, Any]] | None = None, sip: bool = False) -> Findings:
    """``placements``: the ledger's (default: the placement log). With ``sip``, a leg the SIP channel
    failed without dialling it (no RTP port free, no socket) counts as neither placed nor missing."""
    placements = site.log.read() if placements is None else placements
    legs = leg_rows(store)
    incidents = {row.id: row for row in store.incidents(limit=100_000)}
    placed = Counter(p["leg"] for p in placements)
    unplaced = {leg.id for leg in legs.values()
                if leg.id not in placed and failed_unplaced(leg.status, leg.interrupted, leg.detail)}
    excused = unplaced if sip else set()
    handed_over = {leg_id for leg_id, leg in legs.items()
                   if LegStatus(leg.status).was_placed and not leg.interrupted} - excused
    interrupted = [leg for leg in legs.values() if leg.interrupted]
    return Findings(
        incidents=len(incidents), legs=len(legs), placements=len(placements),
        lost_incidents=sorted(set(reported.values()) - set(incidents)),
        placed_twice=sorted(leg for leg, times in placed.items() if times > 1),
        placed_unknown=sorted(set(placed) - set(legs))
        + [p["leg"] for p in placements if p["leg"] in legs and legs[p["leg"]].attempt != p["attempt"]],
        handed_over_unlogged=sorted(handed_over - set(placed)),
        # Every planned leg was placed, or dropped unplaced because help was confirmed, or cut by a crash.
        never_placed=sorted(leg.id for leg in legs.values() if leg.id not in placed and leg.id not in excused
                            and leg.status != "cancelled" and not leg.interrupted),
        interrupted_not_replaced=sorted(
            leg.id for leg in interrupted
            if _attempt(leg.id, leg.attempt + 1) not in legs and incidents[leg.incident_id].status == "alerting"),
        # Quorum met, or the top level reached with every leg final.
        unfinished_escalations=sorted(row.id for row in incidents.values()
                                      if row.status != "acknowledged"
                                      and not (row.status == "alerting" and row.level == TOP_LEVEL)),
        interrupted=len(interrupted),
        interrupted_after_placing=sum(leg.id in placed for leg in interrupted),
        max_level=max((row.level for row in incidents.values()), default=0),
        redials=sum(1 for leg in legs.values()
                    if leg.attempt > 1 and not legs[_attempt(leg.id, leg.attempt - 1)].interrupted),
        failed_unplaced=sorted(unplaced),
        # The chain of attempts for one recipient must not end on a leg the channel never dialled:
        # the recipient of an interrupted call, or of a new one, would not be rung at all.
        ended_unplaced=sorted(leg.id for leg in legs.values() if leg.id in excused
                              and _attempt(leg.id, leg.attempt + 1) not in legs),
    )


def _attempt(leg_id: str, attempt: int) -> str:
    """The id of another attempt of the same leg."""
    return leg_id.rsplit("/", 1)[0] + f"/{attempt}"


@contextmanager
def recording_site(root: Path, groups: int, database_url: str | None = None, per_group: int = 1,
                   ) -> Iterator[tuple[Site, LogLedger]]:
    """A site whose engine processes place calls and SMS on the recording channel; stopped on the way out."""
    site = make_site(root, groups, database_url, per_group)
    try:
        yield site, LogLedger(site.log)
    finally:
        site.stop_all()


# -- the SIP call channel -------------------------------------------------------------------------


@dataclass(frozen=True)
class _CallLeg:
    id: str
    attempt: int
    phone: str
    claimed_at: float
    failed_unplaced: bool  # the channel failed it without a SIP answer: most likely never dialled


@dataclass
class SipLedger:
    """SMS from the placement log; calls from the INVITEs the responders' phone received.

    Processes never overlap (each is killed before the next starts), so an INVITE belongs to the
    process that was the last to start before it arrived, and so does a leg claimed (stored as
    handed to the channel, just before dialling) in that time. Per process and number, the INVITEs
    are paired in order with the call legs claimed for it, legs the channel failed without a SIP
    answer last. An INVITE left over is a second placement of the latest leg claimed for that
    number before it (placed twice), or of nothing (unknown).
    """

    log: PlacementLog
    trace: PhoneTrace
    store: SqlIncidentStore
    registrar: Kamailio

    def read(self, restarts: Sequence[Restart]) -> list[dict[str, Any]]:
        return self.log.read() + self.calls(restarts)

    def calls(self, restarts: Sequence[Restart]) -> list[dict[str, Any]]:
        spans = sorted((r.started_at, r.pid) for r in restarts)
        legs = self._claimed_call_legs()
        claimed: dict[tuple[int, str], list[_CallLeg]] = defaultdict(list)
        for leg in sorted(legs, key=lambda leg: (leg.failed_unplaced, leg.claimed_at)):
            claimed[(_owner(spans, leg.claimed_at), leg.phone)].append(leg)
        placed = []
        known = {leg.phone for leg in legs}
        for invite in self.trace.invites():
            pid, phone = _owner(spans, invite.at), stored_form(invite.number, known)
            waiting = claimed.get((pid, phone))
            leg = waiting.pop(0) if waiting else _latest_before(legs, phone, invite.at)
            placed.append({"leg": leg.id if leg else f"INVITE {invite.call_id} to {invite.number}",
                           "attempt": leg.attempt if leg else 0, "channel": "call", "pid": pid, "at": invite.at})
        return placed

    def left_ringing(self, restarts: Sequence[Restart]) -> list[float | None]:
        """Per call still ringing when its process was killed (not cancelled before the next process
        started): seconds from that start to its CANCEL at the phone (None: none came)."""
        spans = sorted((r.started_at, r.pid) for r in restarts)
        cancels = self.trace.cancels()
        delays: list[float | None] = []
        for invite in self.trace.invites():
            index = bisect.bisect_right(spans, (invite.at, float("inf")))
            if index == 0 or index == len(spans):  # before any process, or the last one's (not killed)
                continue
            next_start = spans[index][0]
            cancelled = cancels.get(invite.call_id)
            if cancelled is None or cancelled >= next_start:
                delays.append(None if cancelled is None else cancelled - next_start)
        return delays

    def surplus_invites(self) -> dict[str, tuple[int, int]]:
        """Numbers whose phone received more INVITE dialogs than the call legs stored for them."""
        legs = Counter(leg.phone for leg in self._claimed_call_legs())
        invites = Counter(stored_form(i.number, set(legs)) for i in self.trace.invites())
        return {n: (count, legs[n]) for n, count in invites.items() if count > legs[n]}

    def _claimed_call_legs(self) -> list[_CallLeg]:
        leg = AlertLegRow.__table__.c  # type: ignore[attr-defined]
        query = (select(leg.id, leg.attempt, leg.recipient_phone, leg.claimed_at, leg.status, leg.interrupted,
                        leg.detail)
                 .where(leg.channel == "call", leg.claimed_at.is_not(None)).order_by(leg.claimed_at))
        with self.store.engine.connect() as conn:
            return [_CallLeg(row.id, row.attempt, row.recipient_phone, row.claimed_at.timestamp(),
                             failed_unplaced(row.status, row.interrupted, row.detail))
                    for row in conn.execute(query)]


def failed_unplaced(status: str, interrupted: bool, detail: str) -> bool:
    """Failed by the channel itself (an exception, no RTP port, the path down), not by a SIP answer
    ("480 Temporarily Unavailable") nor by a crash."""
    return status == LegStatus.FAILED and not interrupted and not detail[:3].isdigit()


def _owner(spans: list[tuple[float, int]], at: float) -> int:
    """The pid of the process that started last before ``at`` (0: before any)."""
    index = bisect.bisect_right(spans, (at, float("inf"))) - 1
    return spans[index][1] if index >= 0 else 0


def _latest_before(legs: list[_CallLeg], phone: str, at: float) -> _CallLeg | None:
    return max((leg for leg in legs if leg.phone == phone and leg.claimed_at <= at),
               key=lambda leg: leg.claimed_at, default=None)


@contextmanager
def sip_site(root: Path, groups: int, database_url: str | None = None, per_group: int = 1,
             ) -> Iterator[tuple[Site, SipLedger]]:
    """A site whose engine processes place alert calls over SIP: Kamailio on loopback, every
    responder's number bound to one never-answering sipp phone; SMS stay on the recording channel.
    Every process the site started, the phone and Kamailio are stopped on the way out."""
    site = make_site(root, groups, database_url, per_group)
    store = site.store
    kamailio = Kamailio(root / "kamailio")
    phone = None
    try:
        kamailio.start()
        phone = responders_phone(root / "sipp")
        register_responders(store, kamailio.port, phone.port, expires=3600)  # outlasts a 100-trial benchmark
        # Channels enough that no leg waits in the channel's queue: each is dialled as it is claimed.
        site.overrides["node"] = sip_env(kamailio.port, free_udp_port(), SIP_RING_SECONDS, channels=SIP_CHANNELS)
        yield site, SipLedger(site.log, PhoneTrace(root / "sipp" / RESPONDER_TRACE), store, kamailio)
    finally:
        site.stop_all()
        if phone is not None:
            phone.stop()
        kamailio.stop()
        store.engine.dispose()

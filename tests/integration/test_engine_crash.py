"""Process-level crash test: the engine is killed with SIGKILL again and again during fan-out.

Each trial starts ``python -m callcenter.standalone`` on one SQLite database, presses one or two
households' keys, and kills the process at a seeded random moment: while it starts, while it
stores the press, while legs are being placed, while outcomes come in, while it recovers what an
earlier victim left. After the last trial one process runs to the end. The placement log written
by the recording channel (fsynced before each reply) is the ground truth of what was placed.

What "at most once" means here: a leg id names one attempt ``(incident, recipient, channel,
purpose, attempt)`` and is placed at most once, ever. A leg whose process died after placing it
but before storing the provider's reply cannot be asked about (a SIP dialog dies with its
process), so it is closed as interrupted and the recipient is reached again by the next attempt:
a recipient may ring twice around a crash, an attempt never does.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_process import TOP_LEVEL, EngineProcess, Site, leg_rows, make_site, unfinished

from callcenter.domain.types import LegStatus

pytestmark = [pytest.mark.timeout(150), pytest.mark.slow]
TRIALS = 20
SEED = 995


def stored_all(presses: list[str]) -> Callable[[EngineProcess], bool]:
    return lambda process: set(presses) <= set(process.incidents())


def run_trials(site: Site, rng: random.Random) -> dict[str, str]:
    """Start, press and kill TRIALS times; returns caller → incident id for every press reported stored."""
    reported: dict[str, str] = {}
    callers = iter(site.callers)
    for trial in range(TRIALS):
        presses = [next(callers)] + ([next(callers)] if trial % 3 == 0 else [])
        process = site.start(f"trial{trial:02d}", presses, forked=True)
        if trial % 5 == 4:
            # Anywhere from start-up to fan-out: the press may not even be stored yet.
            process.wait_for(lambda p: False, rng.uniform(0.0, 0.8))
        else:
            stored = process.wait_for(stored_all(presses), 30)
            assert stored, f"trial {trial}: no press stored within 30 s:\n{process.output()}"
            process.wait_for(lambda p: False, rng.uniform(0.0, 1.0))
        process.kill()
        reported |= process.incidents()
    return reported


def test_killed_engines_place_every_leg_once_and_finish_every_escalation(tmp_path: Path) -> None:
    site = make_site(tmp_path, groups=TRIALS * 2)
    try:
        reported = run_trials(site, random.Random(SEED))
        survivor = site.start("survivor", [])
        store = site.store
        finished = survivor.wait_for(lambda p: not unfinished(store), 45)
        assert finished, f"still unfinished: {unfinished(store)}\n{survivor.output()}"
        survivor.kill()
    finally:
        site.stop_all()

    placements = site.log.read()
    legs = leg_rows(store)
    incidents = {row.id: row for row in store.incidents(limit=10_000)}

    # No incident lost: every press a process reported as stored is there.
    assert set(reported.values()) <= set(incidents)
    # No leg id placed twice, and nothing placed that the database does not know.
    placed = Counter(p["leg"] for p in placements)
    assert [leg for leg, times in placed.items() if times > 1] == []
    assert set(placed) <= set(legs)
    assert all(legs[p["leg"]].attempt == p["attempt"] for p in placements)
    # Every leg the database says was handed over is in the log.
    handed_over = {leg_id for leg_id, leg in legs.items() if LegStatus(leg.status).was_placed and not leg.interrupted}
    assert handed_over - set(placed) == set()
    # Every planned leg was placed, or dropped unplaced because help was confirmed, or cut by a crash.
    assert [leg.id for leg in legs.values()
            if leg.id not in placed and leg.status != "cancelled" and not leg.interrupted] == []
    # Every leg interrupted by a crash was replaced by the next attempt, unless the alert was over.
    for leg in legs.values():
        if leg.interrupted:
            replacement = leg.id.rsplit("/", 1)[0] + f"/{leg.attempt + 1}"
            assert replacement in legs or incidents[leg.incident_id].status != "alerting", leg.id
    # The crashes really hit fan-out: some legs were interrupted and some were placed before it.
    interrupted = [leg for leg in legs.values() if leg.interrupted]
    assert interrupted and any(leg.id in placed for leg in interrupted)
    # Every escalation finished: quorum met, or the top level reached with every leg final.
    for row in incidents.values():
        assert row.status == "acknowledged" or (row.status == "alerting" and row.level == TOP_LEVEL), row.id
    # The script made the chain climb and made the engine redial (not only replace interrupted legs).
    assert max(row.level for row in incidents.values()) >= 1
    assert any(leg.attempt > 1 and not legs[leg.id.rsplit("/", 1)[0] + f"/{leg.attempt - 1}"].interrupted
               for leg in legs.values())

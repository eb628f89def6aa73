"""Process-level crash test: the engine is killed with SIGKILL again and again during fan-out.

Each trial starts ``python -m callcenter.standalone`` on one SQLite database, presses one or two
households' keys, and kills the process at a seeded random moment: while it starts, while it
stores the press, while legs are being placed, while outcomes come in, while it recovers what an
earlier victim left. After the last trial one process runs to the end. The placement log written
by the recording channel (fsynced before each reply) is the ground truth of what was placed
(the trials and checks are in ``crash_trials.py``, shared with ``bench/crash.py``).

What "at most once" means here: a leg id names one attempt ``(incident, recipient, channel,
purpose, attempt)`` and is placed at most once, ever. A leg whose process died after placing it
but before storing the provider's reply cannot be asked about (a SIP dialog dies with its
process), so it is closed as interrupted and the recipient is reached again by the next attempt:
a recipient may ring twice around a crash, an attempt never does.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from crash_trials import SEED, check_placements, run_trials, start
from engine_process import make_site, unfinished

pytestmark = [pytest.mark.timeout(150), pytest.mark.slow]
TRIALS = 20
# Liveness, not speed: the survivor must take the lease of the killed process (1.5 s here) and
# resume its incidents within the bound; on an idle machine it takes about 2 s.
RESUME_WITHIN_SECONDS = 10.0


def test_killed_engines_place_every_leg_once_and_finish_every_escalation(tmp_path: Path) -> None:
    site = make_site(tmp_path, groups=TRIALS * 2)
    store = site.store
    try:
        run = run_trials(site, random.Random(SEED), TRIALS)
        survivor, restart = start(site, store, "survivor", [])
        finished = survivor.wait_for(lambda p: not unfinished(store), 45)
        assert finished, f"still unfinished: {unfinished(store)}\n{survivor.output()}"
        survivor.kill()
    finally:
        site.stop_all()

    found = check_placements(site, store, run.reported)
    # No incident lost, no leg id placed twice, nothing placed unknown to the database, every leg
    # handed over is in the log, every planned leg placed (or cancelled, or cut by a crash), every
    # interrupted leg replaced by its next attempt, every escalation finished.
    assert found.problems() == {}
    # The crashes really hit fan-out: some legs were interrupted and some were placed before it.
    assert found.interrupted and found.interrupted_after_placing
    # The script made the chain climb and made the engine redial (not only replace interrupted legs).
    assert found.max_level >= 1 and found.redials
    # Escalation resumed: the survivor inherited unfinished incidents and placed a leg of one of them in time.
    assert restart.pending, "the last trial left nothing unfinished: the survivor resumed nothing"
    resumed = restart.observe(site.log.read())
    assert resumed is not None, "the survivor never placed a leg of an inherited incident"
    assert restart.resume_seconds is not None and restart.resume_seconds <= RESUME_WITHIN_SECONDS

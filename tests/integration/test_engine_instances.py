"""Two engine processes on one PostgreSQL database: one leads, the other takes over.

Instance "a" presses a key and leads (it holds the scheduler lease); instance "b" runs beside it
and waits. When "a" is killed (SIGKILL) or stopped (SIGTERM) during fan-out, "b" must take the
lease and carry on within 10 s (lease 6 s, renewed every 2 s): replace the legs "a" had in flight,
place what is due and fire the escalations that fell due meanwhile, each leg id placed once.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from engine_process import (
    EngineProcess,
    Site,
    claimed_by,
    eventually,
    leg_rows,
    make_site,
    scheduler_holder,
    unfinished,
)

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(150), pytest.mark.slow]
TAKEOVER_SECONDS = 10


def start_pair(site: Site) -> tuple[EngineProcess, EngineProcess, str]:
    """Instance a leads and presses; b starts beside it. Returns both and a's incident id."""
    caller = site.callers[0]
    a = site.start("a", [caller], instance="a", forked=True)
    assert a.wait_for(lambda p: caller in p.incidents(), 60), a.output()
    b = site.start("b", [], instance="b", forked=True)
    assert b.wait_for(lambda p: "running" in p.output(), 60), b.output()
    return a, b, a.incidents()[caller]


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "stopped"])
def test_the_other_instance_takes_over_the_lease_legs_and_timers(
    tmp_path: Path, postgres_url: str, stop: signal.Signals,
) -> None:
    site = make_site(tmp_path, groups=2, database_url=postgres_url)
    site.lease_seconds = 6.0
    store = site.store
    try:
        a, b, incident_id = start_pair(site)
        # Exactly one leads: a, which pressed first; b, running beside it, holds nothing.
        assert (scheduler_holder(store) or "").startswith("a#")
        assert eventually(lambda: len(site.log.read()) >= 3, 10)  # a is placing legs
        assert (scheduler_holder(store) or "").startswith("a#") and b.alive
        level_before = store.incident_row(incident_id).level

        a.signal(stop)
        assert eventually(lambda: not a.alive, 10)
        # Within 10 s of a's end, b holds the lease and has placed legs of its own (its recovery
        # replaces what a left in flight, on a thread of its own beside the lease).
        gone = time.monotonic()
        assert eventually(lambda: (scheduler_holder(store) or "").startswith("b#"), TAKEOVER_SECONDS), \
            f"lease still with {scheduler_holder(store)}\n{b.output()}"
        left = TAKEOVER_SECONDS - (time.monotonic() - gone)
        assert eventually(lambda: bool(claimed_by(store, "b#")), max(left, 0.1)), \
            f"b took the lease but placed nothing within {TAKEOVER_SECONDS} s\n{b.output()}"

        assert eventually(lambda: not unfinished(store), 60), f"unfinished: {unfinished(store)}\n{b.output()}"
    finally:
        site.stop_all()

    legs = leg_rows(store)
    placed = Counter(p["leg"] for p in site.log.read())
    assert [leg for leg, times in placed.items() if times > 1] == []
    assert set(placed) <= set(legs)
    # b replaced what a left in flight and carried the escalation on.
    assert any(leg.interrupted and (leg.claimed_by or "").startswith("a#") for leg in legs.values())
    row = store.incident_row(incident_id)
    assert row.level > level_before or row.status == "acknowledged"

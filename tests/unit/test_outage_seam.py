"""The one seam where the engine's writes meet a database outage (callcenter/service/degraded.py)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from factories import SteppingClock, build_group, shipped_policy

from callcenter.domain.incident import Incident
from callcenter.domain.plan import plan_fan_out
from callcenter.domain.types import CallerTrust, LegStatus
from callcenter.service.degraded import SpoolOnOutage, WithoutDegradedMode
from callcenter.service.outage import DegradedMode, ReplayHooks, Report
from callcenter.service.ports import IncidentStore
from callcenter.service.spool import PressSpool

KEY = "h:1"
REPORTS = [Report("inc-9/leg", LegStatus.ACKNOWLEDGED)]


class NoStore:
    """The database is away: the seam must not reach the store itself."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the store was used ({name})")


def opener(clock: SteppingClock) -> Incident:
    group, policy = build_group(), shipped_policy()
    household = group.household(0)
    return Incident.open("inc-1", group.line(0), household.id, household.label, household.address,
                         plan_fan_out(group.lookup(0), policy, group.line(0)), policy, clock.now(),
                         trust=CallerTrust.REGISTERED, hold=False)


def database_away() -> object:
    raise ConnectionError("connection refused")


def refused() -> object:
    raise ValueError("not an outage")


def seam(tmp_path: Path, clock: SteppingClock) -> SpoolOnOutage:
    mode = DegradedMode(PressSpool(tmp_path), cast(IncidentStore, NoStore()), shipped_policy(), clock, "node#1",
                        lambda exc: isinstance(exc, ConnectionError))
    return SpoolOnOutage(mode, ReplayHooks(lambda provider: False, lambda incident: None))


def test_without_degraded_mode_the_store_decides() -> None:
    without = WithoutDegradedMode()
    assert without.store_press(KEY, lambda: "stored") == "stored"
    with pytest.raises(ConnectionError):
        without.store_press(KEY, database_away)
    with pytest.raises(ConnectionError):
        without.store_reports("inc-9", REPORTS, database_away)
    assert not without.holds_timers("inc-9") and without.replay() == 0
    with pytest.raises(RuntimeError):
        without.spool_press(KEY, SteppingClock().now(), True, CallerTrust.REGISTERED, lambda: opener(SteppingClock()),
                            lambda leg: "sim")


def test_a_press_is_stored_while_the_database_answers(tmp_path: Path) -> None:
    outage = seam(tmp_path, SteppingClock())
    assert outage.store_press(KEY, lambda: "stored") == "stored"
    assert outage.mode.spool.waiting() == [] and not outage.mode.state().degraded


def test_a_press_the_store_cannot_take_for_an_outage_is_turned_to_the_spool(tmp_path: Path) -> None:
    clock = SteppingClock()
    outage = seam(tmp_path, clock)
    assert outage.store_press(KEY, database_away) is None
    incident, legs = outage.spool_press(KEY, clock.now(), True, CallerTrust.REGISTERED, lambda: opener(clock),
                                        lambda leg: f"sim-{leg.channel}")
    assert legs and outage.holds_timers(incident.id)
    assert outage.store_press(KEY, lambda: "stored") is None  # the household's incident is only in the spool


def test_an_error_other_than_an_outage_is_raised_not_spooled(tmp_path: Path) -> None:
    outage = seam(tmp_path, SteppingClock())
    with pytest.raises(ValueError):
        outage.store_press(KEY, refused)
    with pytest.raises(ValueError):
        outage.store_reports("inc-9", REPORTS, refused)
    assert outage.mode.spool.waiting() == []


def test_reports_the_store_cannot_take_are_spooled_never_lost(tmp_path: Path) -> None:
    outage = seam(tmp_path, SteppingClock())
    outage.store_reports("inc-9", REPORTS, database_away)
    assert [(r.kind, r.incident_id) for r in outage.mode.spool.waiting()] == [("outcome", "inc-9")]
    assert outage.holds_timers("inc-9")


def test_reports_on_a_spooled_incident_are_spooled_without_trying_the_store(tmp_path: Path) -> None:
    clock = SteppingClock()
    outage = seam(tmp_path, clock)
    incident, _ = outage.spool_press(KEY, clock.now(), True, CallerTrust.REGISTERED, lambda: opener(clock),
                                     lambda leg: f"sim-{leg.channel}")
    outage.store_reports(incident.id, [Report(f"{incident.id}/x", LegStatus.DIALING)], refused)
    assert [r.kind for r in outage.mode.spool.waiting()] == ["opened", "claimed", "outcome"]

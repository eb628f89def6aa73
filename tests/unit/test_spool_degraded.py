"""Degraded mode while the store is away: what a press spools and hands to the channels."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest
from factories import PRESS_AT, SteppingClock, build_group, shipped_policy

from callcenter.domain.incident import Incident
from callcenter.domain.plan import plan_fan_out
from callcenter.domain.types import CallerTrust, LegStatus
from callcenter.service.outage import DegradedMode, Report
from callcenter.service.ports import IncidentStore
from callcenter.service.spool import PressSpool

KEY = "h:1"


class NoStore:
    """The database is away: any use of the store would be a bug in these tests."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the store was used ({name}) while the database is away")


def degraded(spool_dir: Path, clock: SteppingClock) -> DegradedMode:
    return DegradedMode(PressSpool(spool_dir), cast(IncidentStore, NoStore()), shipped_policy(), clock, "node#1",
                        lambda exc: isinstance(exc, ConnectionError))


def opener(clock: SteppingClock, incident_id: str = "inc-1") -> Incident:
    group = build_group()
    policy = shipped_policy()
    household = group.household(0)
    return Incident.open(incident_id, group.line(0), household.id, household.label, household.address,
                         plan_fan_out(group.lookup(0), policy, group.line(0)), policy, clock.now(),
                         trust=CallerTrust.REGISTERED, hold=False)


def press(mode: DegradedMode, clock: SteppingClock, incident_id: str = "inc-1") -> tuple[Incident, list[str]]:
    incident, legs = mode.press(KEY, clock.now(), True, CallerTrust.REGISTERED, lambda: opener(clock, incident_id),
                                lambda leg: f"sim-{leg.channel}")
    return incident, [leg.id for leg in legs]


def test_a_press_spools_its_incident_and_the_legs_it_places_before_they_go_out(tmp_path: Path) -> None:
    clock = SteppingClock()
    mode = degraded(tmp_path, clock)
    incident, legs = press(mode, clock)
    assert legs and {leg.id for leg in incident.pending_legs() if leg.level == 0} == set(legs)
    records = mode.spool.waiting()
    assert [r.kind for r in records] == ["opened", "claimed"]
    assert set(records[1].data["legs"]) == set(legs) and records[0].at == PRESS_AT
    assert mode.holds(KEY) and mode.waiting(incident.id)
    state = mode.state()
    assert (state.degraded, state.spooled_incidents, state.spooled_records, state.spooled_presses) == (True, 1, 2, 1)


def test_a_repeated_press_joins_the_spooled_incident_and_places_only_new_legs(tmp_path: Path) -> None:
    clock = SteppingClock()
    mode = degraded(tmp_path, clock)
    first, legs = press(mode, clock)
    clock.advance(20)
    again, more = press(mode, clock, incident_id="inc-2")
    assert again is first and again.press_count == 2
    assert more and not set(more) & set(legs)  # the climbed level's legs, none placed twice
    assert [r.kind for r in mode.spool.waiting()] == ["opened", "claimed", "pressed_again", "claimed"]


def test_reports_are_spooled_only_for_incidents_the_store_does_not_have(tmp_path: Path) -> None:
    clock = SteppingClock()
    mode = degraded(tmp_path, clock)
    incident, legs = press(mode, clock)
    assert mode.take_reports(incident.id, [Report(legs[0], LegStatus.DIALING, "", "ref")])
    assert not mode.take_reports("stored-before", [Report("stored-before/x/call/alert/1", LegStatus.ACKNOWLEDGED)])
    assert mode.take_reports("stored-before", [Report("stored-before/x/call/alert/1", LegStatus.ACKNOWLEDGED)],
                             force=True)  # the store failed: the acknowledgement waits in the spool
    assert [r.kind for r in mode.spool.waiting()][-2:] == ["outcome", "outcome"]


def test_a_restart_finds_what_an_earlier_boot_spooled(tmp_path: Path) -> None:
    clock = SteppingClock()
    press(degraded(tmp_path, clock), clock)
    restarted = degraded(tmp_path, clock)
    state = restarted.state()
    assert (state.spooled_incidents, state.spooled_records) == (1, 2)
    assert restarted.waiting("inc-1") and not restarted.holds(KEY)


def test_a_spool_that_cannot_be_written_still_lets_the_alert_out(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    clock = SteppingClock()
    mode = degraded(tmp_path / "spool", clock)
    (tmp_path / "spool" / "replayed").rmdir()
    (tmp_path / "spool").rmdir()  # the disk is gone
    _, legs = press(mode, clock)
    assert legs
    assert "NOT spooled" in caplog.text


def test_went_down_notes_only_outages(tmp_path: Path) -> None:
    clock = SteppingClock()
    mode = degraded(tmp_path, clock)
    assert not mode.went_down(ValueError("a bug"))
    assert mode.state().down_since is None
    clock.advance(3)
    assert mode.went_down(ConnectionRefusedError("refused"))
    assert mode.state().down_since == PRESS_AT + timedelta(seconds=3)

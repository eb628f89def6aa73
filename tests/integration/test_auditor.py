"""The auditor: an escalation or a due leg more than 10 s late is flagged (log line and timeline event)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from test_engine_sql import CALLER, Rig, make_rig

from callcenter.adapters.runtime import EngineRuntime
from callcenter.adapters.scheduler import ApschedulerTimers, Leadership, new_scheduler
from callcenter.domain.types import Actor, CallerTrust

pytestmark = pytest.mark.timeout(60)
BUSY = "+8613900000003"


@pytest.fixture
def rig(database_url: str) -> Iterator[Rig]:
    yield from make_rig(database_url)


def audit_events(rig: Rig, incident_id: str) -> list[dict[str, object]]:
    return [e.data for e in rig.store.timeline(incident_id) if e.kind == "audit_overdue"]


def test_nothing_is_flagged_while_timers_keep_up(rig: Rig) -> None:
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rig.clock.advance(59)
    assert rig.engine.audit() == []
    rig.clock.advance(2)
    rig.fire_timers()  # the escalation fired on time
    rig.clock.advance(9)
    assert rig.engine.audit() == []
    assert audit_events(rig, incident.id) == []


def test_an_escalation_late_by_more_than_10_s_is_flagged(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rig.clock.advance(60 + 10)
    assert rig.engine.audit() == []  # exactly 10 s late: within the grace
    rig.clock.advance(1)  # the timer was lost: nobody fired it
    with caplog.at_level(logging.WARNING, logger="callcenter.service.engine"):
        overdue = rig.engine.audit()
    assert [(o.incident_id, o.what, o.late_by.total_seconds()) for o in overdue] == [
        (incident.id, "escalation to level 1", 11.0)]
    assert f"overdue: incident {incident.id} escalation to level 1 late by 0:00:11" in caplog.text
    [event] = audit_events(rig, incident.id)
    assert event["what"] == "escalation to level 1" and event["late_seconds"] == 11.0
    assert any(p.event.kind == "audit_overdue" for p in rig.bus.history())


def test_a_pending_leg_older_than_10_s_is_flagged(rig: Rig) -> None:
    rig.calls.refuse.add(BUSY)  # fails at once; its redial is due 30 s later
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    redial = next(r for r in rig.store.legs(incident.id) if r.recipient_phone == BUSY and r.attempt == 2)
    rig.clock.advance(30 + 11)  # the redial's timer never fired; the escalation is not late yet
    overdue = rig.engine.audit()
    assert [(o.what, o.late_by.total_seconds()) for o in overdue] == [(f"leg {redial.id}", 11.0)]
    assert [e["what"] for e in audit_events(rig, incident.id)] == [f"leg {redial.id}"]


def test_the_leading_runtime_audits_on_its_own(rig: Rig) -> None:
    """The auditor is a periodic job of the runtime, run by the leader; here the engine's timers are
    the fakes nobody fires and the sweep is off, so the escalation is lost and only the audit sees it."""
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    scheduler = new_scheduler()
    runtime = EngineRuntime(rig.engine, scheduler, ApschedulerTimers(scheduler),
                            Leadership(rig.store, rig.clock, "test#1"), audit_seconds=0.2, sweep_seconds=3600)
    runtime.start()
    try:
        assert runtime.leadership.leading and runtime.recovered.wait(10)
        rig.clock.advance(75)
        found = rig.bus.wait_for(lambda p: p.event.kind == "audit_overdue" and p.incident_id == incident.id, 10)
        assert found.event.data["what"] == "escalation to level 1"
        deadline = time.monotonic() + 5  # the runtime keeps the last audit once it has returned
        while not runtime.overdue and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [o.incident_id for o in runtime.overdue] == [incident.id]
    finally:
        runtime.stop()


def test_a_late_leg_is_flagged_once_and_counted_while_it_stays_late(rig: Rig) -> None:
    """The timeline gets one event per late item; every audit still returns it for the metric."""
    rig.calls.refuse.add(BUSY)
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    redial = next(r for r in rig.store.legs(incident.id) if r.recipient_phone == BUSY and r.attempt == 2)
    rig.clock.advance(30 + 11)
    assert [o.what for o in rig.engine.audit()] == [f"leg {redial.id}"]
    rig.clock.advance(5)
    assert [(o.what, o.late_by.total_seconds()) for o in rig.engine.audit()] == [(f"leg {redial.id}", 16.0)]
    assert [e["what"] for e in audit_events(rig, incident.id)] == [f"leg {redial.id}"]
    rig.clock.advance(25)  # the escalation (due at 60 s) is late now as well: flagged, the leg not again
    assert [o.what for o in rig.engine.audit()] == [f"leg {redial.id}", "escalation to level 1"]
    assert [e["what"] for e in audit_events(rig, incident.id)] == [f"leg {redial.id}", "escalation to level 1"]


def test_closed_incidents_are_not_audited(rig: Rig) -> None:
    rig.calls.refuse.add(BUSY)
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rig.engine.cancel(incident.id, Actor("household", "张桂兰"))
    rig.clock.advance(120)
    assert rig.engine.audit() == []

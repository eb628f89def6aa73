"""Operator records on an incident: dispatch to 110/119/120 and call-backs, in the timeline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import open_scene

from callcenter.domain.incident import IncidentError
from callcenter.domain.types import Actor

OPERATOR = Actor("operator", "李调度")


def test_a_dispatch_is_recorded_with_agency_time_and_reference() -> None:
    scene = open_scene()
    handed_over = scene.at(40)
    scene.incident.record_dispatch("120", handed_over, "  JJ-2026-0042 ", OPERATOR, scene.at(45))
    [event] = scene.events("dispatch")
    assert event.actor == "operator:李调度"
    assert event.data == {"agency": "120", "label": "急救 120", "dispatched_at": handed_over,
                          "reference": "JJ-2026-0042"}


def test_a_dispatch_may_be_recorded_after_closing() -> None:
    scene = open_scene()
    handed_over = scene.at(30)
    scene.incident.resolve(OPERATOR, scene.at(60))
    scene.incident.record_dispatch("110", handed_over, "", OPERATOR, scene.at(70))
    assert len(scene.events("dispatch")) == 1


@pytest.mark.parametrize(("agency", "when", "message"), [
    ("911", 0, "one of 110, 119, 120"),
    ("119", 60, "future"),
])
def test_a_wrong_dispatch_is_refused_and_leaves_no_trace(agency: str, when: float, message: str) -> None:
    scene = open_scene()
    now = scene.at(10)
    with pytest.raises(IncidentError, match=message):
        scene.incident.record_dispatch(agency, now + timedelta(seconds=when), "", OPERATOR, now)
    assert scene.events("dispatch") == []


def test_a_call_back_is_in_the_timeline() -> None:
    scene = open_scene()
    scene.incident.record_call_back("+8613900000001", "+867176100100", "cb-1", OPERATOR, scene.at(20))
    [event] = scene.events("call_back")
    assert event.data == {"operator_phone": "+8613900000001", "household_line": "+867176100100",
                          "reference": "cb-1"}

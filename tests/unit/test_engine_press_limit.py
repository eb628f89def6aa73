"""Press rate limit per line through ``IncidentEngine.key_press``, on the in-memory store.

A stuck key presses every 5 s: the first presses climb, the rest join the incident's timeline
without climbing or opening incidents; a press soon after the incident closes opens a new,
flagged one.
"""

from __future__ import annotations

from typing import Any

import pytest
from engine_rig import CALLER, Rig, engine_rig

from callcenter.adapters.memory import MemoryIncidentStore
from callcenter.domain.types import Actor, CallerTrust, IncidentStatus


@pytest.fixture
def rig() -> Rig:
    return engine_rig(MemoryIncidentStore())


def _events(rig: Rig, incident_id: str, kind: str) -> list[Any]:
    return [e for e in rig.store.timeline(incident_id) if e.kind == kind]


def test_stuck_key_climbs_at_most_the_limit_and_loses_no_press(rig: Rig) -> None:
    first = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    for _ in range(11):  # a minute of a press every 5 s after the first
        rig.clock.advance(5)
        assert rig.engine.key_press(CALLER, CallerTrust.LOCAL).id == first.id  # never a new incident
    stored = rig.engine._load(first.id)
    assert stored.press_count == 12
    assert stored.level == 2  # the opening press and two more counted: two jumps, not eleven
    presses = _events(rig, first.id, "pressed_again")
    assert len(presses) == 11
    assert [p.data.get("counted", True) for p in presses] == [True, True] + [False] * 9
    assert len(rig.store.open_incident_ids()) == 1


def test_counting_resumes_after_the_minute(rig: Rig) -> None:
    first = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    for _ in range(3):
        rig.clock.advance(1)
        rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    assert rig.engine._load(first.id).level == 2
    rig.clock.advance(58)  # 61 s after the opening press: the window holds only presses 2 and 3
    assert rig.engine.key_press(CALLER, CallerTrust.LOCAL).level == 3


def test_press_soon_after_cancel_opens_a_new_flagged_incident(rig: Rig) -> None:
    first = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rig.clock.advance(20)
    rig.engine.cancel(first.id, Actor("household", "三组 张桂兰家"))
    rig.clock.advance(30)
    second = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    assert second.id != first.id and second.status is IncidentStatus.ALERTING
    assert second.urgent
    [flag] = _events(rig, second.id, "press_after_close")
    assert flag.data == {"previous_incident": first.id, "seconds": 30.0}
    assert rig.calls.sent_to().count("+8613900000001") == 2  # the neighbours are alerted again


def test_press_long_after_resolve_is_not_flagged(rig: Rig) -> None:
    first = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rig.engine.resolve(first.id, Actor("operator", "小王"))
    rig.clock.advance(121)
    second = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    assert second.id != first.id
    assert _events(rig, second.id, "press_after_close") == []


def test_forged_presses_do_not_use_up_the_household_s_own_presses(rig: Rig) -> None:
    """An attacker presses three times in a few seconds as the household (unverified): held, nobody
    rung. The household's own press from its registered line right after still counts: it releases
    the incident and its neighbours are alerted at once. Found by bench.sip_attack: the forged
    presses used up the line's three counted presses a minute, so the genuine one was only written on
    the timeline and the incident stayed held until its hold ended (90 s) or an operator released it."""
    first = rig.engine.key_press(CALLER, CallerTrust.UNVERIFIED)
    for _ in range(2):
        rig.clock.advance(2)
        assert rig.engine.key_press(CALLER, CallerTrust.UNVERIFIED).id == first.id
    assert rig.engine._load(first.id).is_held and rig.calls.sent_to() == []
    rig.clock.advance(2)
    genuine = rig.engine.key_press(CALLER, CallerTrust.REGISTERED)
    assert genuine.id == first.id
    assert not genuine.is_held and genuine.level == 0
    assert "+8613900000001" in rig.calls.sent_to()
    assert [e.actor for e in _events(rig, first.id, "released")] == ["household:" + genuine.label]

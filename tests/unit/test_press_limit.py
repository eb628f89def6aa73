"""Press rate limit per line: the pure decisions, the ledger, the incident and the policy file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from callcenter.domain.policy import PolicyError, PressLimit, policy_from_mapping
from callcenter.domain.presses import count_press, within_cooldown
from callcenter.domain.types import CallerTrust
from callcenter.policies import load_policy
from callcenter.service.press_ledger import PressLedger
from tests.unit.factories import SteppingClock, open_scene

CONFIG = Path(__file__).resolve().parents[2] / "config"
LIMIT = PressLimit(counted_per_minute=3, cooldown_after_close=timedelta(minutes=2))
COOLDOWN = "repeat_press.cooldown_after_close_seconds"
LINE, OTHER_LINE = "+867176123456", "+867176123457"


def test_at_most_n_presses_count_in_any_minute() -> None:
    clock, recent, counted = SteppingClock(), (), []
    for _ in range(6):  # a stuck key: a press every 5 s
        ok, recent = count_press(recent, clock.now(), LIMIT)
        counted.append(ok)
        clock.advance(5)
    assert counted == [True, True, True, False, False, False]
    assert len(recent) == 3


def test_the_minute_slides_so_a_long_stuck_key_climbs_only_n_a_minute() -> None:
    clock, recent = SteppingClock(), ()
    counted = 0
    for _ in range(10 * 60 // 5):  # ten minutes of a press every 5 s
        ok, recent = count_press(recent, clock.now(), LIMIT)
        counted += ok
        clock.advance(5)
    assert counted == 30


def test_a_press_exactly_a_minute_after_the_first_counts_again() -> None:
    clock, recent = SteppingClock(), ()
    for _ in range(3):
        _, recent = count_press(recent, clock.now(), LIMIT)
    clock.advance(59)
    assert count_press(recent, clock.now(), LIMIT)[0] is False
    clock.advance(1)
    assert count_press(recent, clock.now(), LIMIT)[0] is True


def test_cooldown_after_close() -> None:
    clock = SteppingClock()
    closed = clock.now()
    assert within_cooldown(closed, clock.advance(120), LIMIT)
    assert not within_cooldown(closed, clock.advance(1), LIMIT)
    assert not within_cooldown(None, clock.now(), LIMIT)


def test_ledger_counts_each_line_on_its_own() -> None:
    ledger, clock = PressLedger(), SteppingClock()
    assert [ledger.count(LINE, clock.now(), LIMIT) for _ in range(4)] == [True, True, True, False]
    assert ledger.count(OTHER_LINE, clock.now(), LIMIT)


def test_ledger_remembers_the_last_close_within_the_cooldown() -> None:
    ledger, clock = PressLedger(), SteppingClock()
    closed_at = clock.now()
    ledger.closed("h:7", "inc-1", closed_at)
    assert ledger.recent_close("h:7", clock.advance(30), LIMIT) == ("inc-1", closed_at)
    assert ledger.recent_close("h:8", clock.now(), LIMIT) is None
    assert ledger.recent_close("h:7", clock.advance(100), LIMIT) is None


def test_ledger_is_bounded_under_a_flood_of_made_up_lines() -> None:
    ledger, clock = PressLedger(size=100), SteppingClock()
    for n in range(1000):
        ledger.count(f"+86138{n:08d}", clock.now(), LIMIT)
    assert len(ledger) == 100


def test_press_over_the_limit_is_on_the_timeline_but_climbs_nothing() -> None:
    scene = open_scene()
    scene.mark()
    scene.incident.press_again(scene.at(5), scene.policy, counted=False, trust=CallerTrust.REGISTERED)
    incident = scene.incident
    assert (incident.press_count, incident.last_press_at, incident.level) == (2, scene.at(5), 0)
    assert incident.escalation_token == 1
    [pressed] = scene.events_since_mark("pressed_again")
    assert pressed.data == {"press_count": 2, "counted": False, "reason": "over 3 presses a minute"}
    assert scene.events_since_mark("level_entered") == []


def test_counted_press_still_jumps() -> None:
    scene = open_scene()
    scene.incident.press_again(scene.at(5), scene.policy, counted=True, trust=CallerTrust.REGISTERED)
    assert scene.incident.level == 1


def test_press_soon_after_close_is_flagged_urgent() -> None:
    scene = open_scene()
    scene.mark()
    scene.incident.flag_press_after_close("inc-0000", scene.at(0) - timedelta(seconds=42), scene.at(0))
    [flag] = scene.events_since_mark("press_after_close")
    assert flag.data == {"previous_incident": "inc-0000", "seconds": 42.0}
    assert scene.incident.urgent
    [urgent] = scene.events_since_mark("urgent")
    assert urgent.data["reason"] == "pressed 42 s after incident inc-0000 was closed"


def test_shipped_policy_sets_the_press_limit() -> None:
    assert load_policy(CONFIG / "escalation.yaml").press_limit == LIMIT


def test_press_limit_defaults_when_not_given() -> None:
    assert policy_from_mapping({"levels": [{"targets": []}]}).press_limit == PressLimit()


@pytest.mark.parametrize(("repeat", "message"), [
    ({"counted_per_minute": 0}, "repeat_press.counted_per_minute: must be a whole number ≥ 1"),
    ({"counted_per_minute": 2.5}, "repeat_press.counted_per_minute: must be a whole number ≥ 1"),
    ({"cooldown_after_close_seconds": -1}, f"{COOLDOWN}: must be a number of seconds ≥ 0"),
    ({"cooldown_after_close_seconds": "2m"}, f"{COOLDOWN}: must be a number of seconds ≥ 0"),
])
def test_press_limit_errors_name_the_key(repeat: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        policy_from_mapping({"levels": [{"targets": []}], "repeat_press": repeat})
    assert str(caught.value) == message

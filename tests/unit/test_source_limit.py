"""Per-source limit on unverified presses: the pure judgement, the incident's kept hold, the policy file."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callcenter.domain.policy import PolicyError, SourceLimit, policy_from_mapping
from callcenter.domain.sources import LINES_KEPT, SourceRecord, judge_unverified, with_incident
from callcenter.domain.types import Actor, CallerTrust
from tests.unit.factories import SteppingClock, open_scene, shipped_policy

LIMIT = SourceLimit(presses=3, window=timedelta(minutes=10), ban=timedelta(hours=1))


def presses(record: SourceRecord, clock: SteppingClock, n: int, every: float = 10) -> list[tuple[bool, bool]]:
    out = []
    for i in range(n):
        verdict = judge_unverified(record, f"+86717610{i:04d}", clock.now(), LIMIT)
        record = verdict.record
        out.append((verdict.banned, verdict.banned_now))
        clock.advance(every)
    return out


def test_the_press_over_the_limit_bans_and_later_ones_are_banned() -> None:
    assert presses(SourceRecord("192.0.2.1"), SteppingClock(), 6) == [
        (False, False), (False, False), (False, False), (True, True), (True, False), (True, False)]


def test_presses_spread_wider_than_the_window_are_never_banned() -> None:
    every = LIMIT.window.total_seconds() / LIMIT.presses + 1
    assert not any(banned for banned, _ in presses(SourceRecord("192.0.2.1"), SteppingClock(), 20, every))


def test_the_ban_ends_and_counting_starts_afresh() -> None:
    clock, record = SteppingClock(), SourceRecord("192.0.2.1")
    for _ in range(4):
        record = judge_unverified(record, "x", clock.now(), LIMIT).record
    assert record.banned(clock.now()) and record.presses_while_banned == 1
    clock.advance(LIMIT.ban.total_seconds())
    assert not record.banned(clock.now())
    assert not judge_unverified(record, "x", clock.now(), LIMIT).banned


def test_the_record_keeps_the_latest_lines_and_incidents_bounded() -> None:
    clock, record = SteppingClock(), SourceRecord("192.0.2.1")
    for i in range(LINES_KEPT + 5):
        record = with_incident(judge_unverified(record, f"line{i}", clock.now(), LIMIT).record, f"inc{i % 3}")
    assert len(record.lines) == LINES_KEPT and record.lines[-1] == f"line{LINES_KEPT + 4}"
    assert record.incidents == ("inc0", "inc1", "inc2")
    assert record.lifted().banned_until is None and record.lifted().lines == record.lines


def test_a_kept_hold_no_longer_ends_by_itself_but_an_operator_still_releases_it() -> None:
    scene = open_scene(trust=CallerTrust.UNVERIFIED)
    token = scene.incident.escalation_token
    assert scene.incident.keep_held("source 192.0.2.1 banned", scene.now)
    assert not scene.incident.keep_held("again", scene.now)  # once
    assert scene.incident.next_escalation_at is None
    scene.at(shipped_policy().unverified_hold.total_seconds() + 1)
    assert not scene.escalate(0, token) and scene.incident.is_held
    scene.incident.release(Actor("operator", "值班员"), scene.now, scene.policy)
    assert scene.incident.level == 0 and scene.incident.pending_legs()


def test_a_verified_incident_is_never_kept_held() -> None:
    scene = open_scene(trust=CallerTrust.TRUNK)
    assert not scene.incident.keep_held("source banned", scene.now)
    assert scene.incident.level == 0


def _policy(per_source: object) -> dict[str, object]:
    return {"levels": [{"name": "组", "targets": [{"role": "household_contact", "channels": ["call"]}],
                        "next_after_seconds": 60},
                       {"name": "警", "targets": [{"role": "police_station", "channels": ["call"]}]}],
            "unverified_caller": {"release_after_seconds": 90, "per_source": per_source}}


def test_the_policy_file_sets_the_source_limit() -> None:
    policy = policy_from_mapping(_policy({"presses": 2, "window_seconds": 60, "ban_seconds": 120}))
    assert policy.source_limit == SourceLimit(2, timedelta(seconds=60), timedelta(seconds=120))
    assert shipped_policy().source_limit == SourceLimit()


@pytest.mark.parametrize("bad", [{"presses": 0}, {"window_seconds": 0}, {"ban_seconds": -1}, {"per_hour": 3}])
def test_a_bad_source_limit_is_refused_with_its_path(bad: dict[str, object]) -> None:
    with pytest.raises(PolicyError, match="per_source"):
        policy_from_mapping(_policy(bad))

"""The escalation policy as data: the shipped file, defaults, and every bad file naming its line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from factories import POLICY_FILE, shipped_policy

from callcenter.domain.policy import (
    EscalationPolicy,
    Level,
    PolicyError,
    Quorum,
    Redial,
    Target,
    policy_from_mapping,
)
from callcenter.domain.types import Channel, LegStatus
from callcenter.policies import load_policy
from callcenter.yamlfile import ConfigFileError
from contacts.model import Role

BAD = Path(__file__).resolve().parents[1] / "data" / "policies"
CALL, SMS = Channel.CALL, Channel.SMS
ROLES = ("household_contact, grid_worker, grid_centre_household, volunteer, village_station, "
         "township_duty_officer, police_station")


def test_the_shipped_policy_climbs_at_60_180_and_300_seconds() -> None:
    policy = load_policy(POLICY_FILE)
    assert [lv.name for lv in policy.levels] == ["联防组", "网格", "村站和乡镇", "派出所"]
    waits = [lv.wait for lv in policy.levels]
    assert waits == [timedelta(seconds=60), timedelta(seconds=120), timedelta(seconds=120), None]
    starts = [sum((w for w in waits[:i] if w), timedelta()) for i in range(4)]
    assert [s.total_seconds() for s in starts] == [0, 60, 180, 300]
    assert [(lv.operators, lv.urgent) for lv in policy.levels] == [
        (True, False), (False, False), (False, False), (False, True)]


def test_the_shipped_policy_targets() -> None:
    levels = shipped_policy().levels
    assert levels[0].targets == (Target(Role.HOUSEHOLD_CONTACT, (CALL, SMS)),
                                 Target(Role.GRID_WORKER, (SMS,)))
    assert levels[1].targets == (Target(Role.GRID_WORKER, (CALL,)),
                                 Target(Role.GRID_CENTRE_HOUSEHOLD, (CALL,)),
                                 Target(Role.VOLUNTEER, (CALL,)))
    assert levels[2].targets == (Target(Role.VILLAGE_STATION, (CALL,)),
                                 Target(Role.TOWNSHIP_DUTY_OFFICER, (CALL,)))
    assert levels[3].targets == (Target(Role.POLICE_STATION, (CALL,)),)


def test_the_shipped_quorum_redial_and_timeouts() -> None:
    policy = shipped_policy()
    assert policy.quorum == Quorum(2, frozenset({Role.GRID_WORKER}))
    assert policy.redial == Redial(
        after=timedelta(seconds=30), max_redials=2,
        call_outcomes=frozenset({LegStatus.BUSY, LegStatus.NO_ANSWER, LegStatus.FAILED,
                                 LegStatus.ANSWERED_WITHOUT_KEY}),
        sms_outcomes=frozenset({LegStatus.FAILED, LegStatus.UNDELIVERED}))
    assert policy.ring_timeout == timedelta(seconds=30)
    assert policy.repeat_press_window == timedelta(minutes=10)
    assert policy.repeat_press_jump == 1


def test_a_minimal_mapping_gets_the_documented_defaults() -> None:
    policy = policy_from_mapping({"levels": [{"targets": [{"role": "grid_worker", "channels": ["call"]}]}]})
    assert policy == EscalationPolicy(levels=(Level("level 0", (Target(Role.GRID_WORKER, (CALL,)),), None),))
    assert policy.quorum == Quorum()
    assert policy.redial == Redial()
    assert policy.level(0) is policy.levels[0]
    assert policy.level(1) is None
    assert policy.level(-1) is None


def test_fractional_seconds_are_kept() -> None:
    policy = policy_from_mapping({"levels": [{"targets": [], "next_after_seconds": 1.5}, {"targets": []}],
                                  "redial": {"after_seconds": 2.5}})
    assert policy.levels[0].wait == timedelta(seconds=1.5)
    assert policy.redial.after == timedelta(seconds=2.5)


@pytest.mark.parametrize(("roles", "met"), [
    ([], False),
    ([Role.HOUSEHOLD_CONTACT], False),
    ([Role.VOLUNTEER], False),
    ([Role.HOUSEHOLD_CONTACT, Role.HOUSEHOLD_CONTACT], True),
    ([Role.HOUSEHOLD_CONTACT, Role.VOLUNTEER], True),
    ([Role.GRID_WORKER], True),
])
def test_quorum_is_two_acknowledgements_or_the_grid_worker(roles: list[Role], met: bool) -> None:
    assert shipped_policy().quorum.met(roles) is met


def test_redial_wants_only_the_outcomes_of_its_channel() -> None:
    redial = shipped_policy().redial
    assert redial.wants(CALL, LegStatus.BUSY)
    assert redial.wants(CALL, LegStatus.ANSWERED_WITHOUT_KEY)
    assert not redial.wants(CALL, LegStatus.DECLINED)
    assert not redial.wants(CALL, LegStatus.UNDELIVERED)
    assert redial.wants(SMS, LegStatus.UNDELIVERED)
    assert redial.wants(SMS, LegStatus.FAILED)
    assert not redial.wants(SMS, LegStatus.BUSY)
    assert not redial.wants(SMS, LegStatus.DELIVERED)


def test_declined_may_be_redialled_when_the_operator_says_so() -> None:
    policy = policy_from_mapping({"levels": [{"targets": []}], "redial": {"call_outcomes": ["declined"]}})
    assert policy.redial.call_outcomes == frozenset({LegStatus.DECLINED})


def _error(data: Any) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        policy_from_mapping(data)
    return caught.value


@pytest.mark.parametrize(("data", "path", "message"), [
    (None, (), "<top>: must be a mapping of keys to values"),
    ([], (), "<top>: must be a mapping of keys to values"),
    ({}, ("levels",), "levels: is required"),
    ({"levels": [{"targets": {}}]}, ("levels", 0, "targets"), "levels.0.targets: must be a list"),
    ({"levels": ["x"]}, ("levels", 0), "levels.0: must be a mapping of keys to values"),
    ({"levels": [{"targets": [{"role": "volunteer", "channels": []}]}]},
     ("levels", 0, "targets", 0, "channels"),
     "levels.0.targets.0.channels: must be a non-empty list of: call, sms"),
    ({"levels": [{"targets": [{"channels": ["sms"]}]}]}, ("levels", 0, "targets", 0, "role"),
     "levels.0.targets.0.role: is required"),
    ({"levels": [{"targets": []}], "quorum": {"any_of_roles": "grid_worker"}}, ("quorum", "any_of_roles"),
     "quorum.any_of_roles: must be a list of roles"),
    ({"levels": [{"targets": []}], "quorum": {"acknowledgements": True}}, ("quorum", "acknowledgements"),
     "quorum.acknowledgements: must be a whole number ≥ 1"),
    ({"levels": [{"targets": []}], "redial": {"max_redials": 1.5}}, ("redial", "max_redials"),
     "redial.max_redials: must be a whole number ≥ 0"),
    ({"levels": [{"targets": []}], "redial": {"sms_outcomes": "failed"}}, ("redial", "sms_outcomes"),
     "redial.sms_outcomes: must be a list of outcomes"),
    ({"levels": [{"targets": []}], "redial": {"after_seconds": float("inf")}}, ("redial", "after_seconds"),
     "redial.after_seconds: must be a number of seconds ≥ 1"),
    ({"levels": [{"targets": []}], "redial": {"after_seconds": 10**20}}, ("redial", "after_seconds"),
     "redial.after_seconds: is too large a number of seconds"),
    ({"levels": [{"targets": []}], "ring_timeout_seconds": 0}, ("ring_timeout_seconds",),
     "ring_timeout_seconds: must be a number of seconds ≥ 1"),
    ({"levels": [{"targets": []}], "repeat_press": None}, ("repeat_press",),
     "repeat_press: must be a mapping of keys to values"),
    ({"levels": [{"targets": []}], "repeat_press": {"window_seconds": -1}},
     ("repeat_press", "window_seconds"),
     "repeat_press.window_seconds: must be a number of seconds ≥ 0"),
    ({"levels": [{"targets": []}], "repeat_press": {"jump": 2}}, ("repeat_press", "jump"),
     "repeat_press.jump: unknown key (allowed: cooldown_after_close_seconds, counted_per_minute, jump_levels, "
     "window_seconds)"),
    ({"levels": [{"targets": [], "operators": "yes"}]}, ("levels", 0, "operators"),
     "levels.0.operators: must be true or false"),
])
def test_policy_errors_carry_the_path_of_the_offending_key(data: Any, path: tuple[str | int, ...],
                                                           message: str) -> None:
    error = _error(data)
    assert error.path == path
    assert str(error) == message


# file, line, reason: what an operator reads when the service refuses to start.
BAD_FILES: list[tuple[str, int, str]] = [
    ("unknown_key.yaml", 8,
     "quorom: unknown key (allowed: congestion, levels, quorum, redial, repeat_press, ring_timeout_seconds, "
     "unverified_caller)"),
    ("unknown_key_in_level.yaml", 7,
     "levels.0.wait_seconds: unknown key (allowed: name, next_after_seconds, operators, targets, urgent)"),
    ("unknown_role.yaml", 7, f"levels.0.targets.1.role: unknown value 'grid_wroker' (allowed: {ROLES})"),
    ("unknown_channel.yaml", 8, "levels.0.targets.0.channels.1: unknown value 'wechat' (allowed: call, sms)"),
    ("missing_next_after_seconds.yaml", 3,
     "levels.0.next_after_seconds: required on every level but the last"),
    ("next_after_on_last_level.yaml", 13, "levels.1.next_after_seconds: the last level has no next level"),
    ("negative_seconds.yaml", 7, "levels.0.next_after_seconds: must be a number of seconds ≥ 1"),
    ("nan_seconds.yaml", 7, "redial.after_seconds: must be a number of seconds ≥ 1"),
    ("empty_levels.yaml", 4, "levels: must be a non-empty list of levels"),
    ("levels_not_a_list.yaml", 1, "levels: must be a non-empty list of levels"),
    ("not_a_mapping.yaml", 2, "<top>: must be a mapping of keys to values"),
    ("bad_yaml_syntax.yaml", 7,
     "not valid YAML: expected ',' or ']', but got ':' "
     "(while parsing a flow sequence that starts on line 6)"),
    ("bad_indentation.yaml", 7, "not valid YAML: expected <block end>, but found '<block mapping start>' "
                                "(while parsing a block collection that starts on line 3)"),
    ("tab_indentation.yaml", 3, "not valid YAML: found character '\\t' that cannot start any token"),
    ("duplicate_key.yaml", 8, "duplicate key 'next_after_seconds'"),
    ("redial_not_redialable.yaml", 11, "redial.call_outcomes.1: acknowledged cannot be redialled "
                                       "(allowed: answered_without_key, busy, declined, failed, no_answer)"),
    ("sms_redial_busy.yaml", 8,
     "redial.sms_outcomes.1: busy cannot be redialled (allowed: failed, undelivered)"),
    ("missing_channels.yaml", 7, "levels.0.targets.1.channels: is required"),
    ("quorum_zero.yaml", 8, "quorum.acknowledgements: must be a whole number ≥ 1"),
    ("quorum_unknown_role.yaml", 8, f"quorum.any_of_roles.1: unknown value 'mayor' (allowed: {ROLES})"),
    ("ring_timeout_text.yaml", 6, "ring_timeout_seconds: must be a number of seconds ≥ 1"),
    ("repeat_press_negative_jump.yaml", 8, "repeat_press.jump_levels: must be a whole number ≥ 0"),
    ("urgent_not_bool.yaml", 3, "levels.0.urgent: must be true or false"),
]


@pytest.mark.parametrize(("name", "line", "reason"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_bad_policy_file_names_file_and_line(name: str, line: int, reason: str) -> None:
    file = BAD / name
    with pytest.raises(ConfigFileError) as caught:
        load_policy(file)
    assert str(caught.value) == f"{file}:{line}: {reason}"
    assert (caught.value.file, caught.value.line, caught.value.reason) == (file, line, reason)


def test_every_bad_policy_file_is_checked() -> None:
    assert sorted(p.name for p in BAD.glob("*.yaml")) == sorted(b[0] for b in BAD_FILES)
    assert len(BAD_FILES) >= 8


def test_a_missing_policy_file_is_named_without_a_line() -> None:
    file = BAD / "no_such_policy.yaml"
    with pytest.raises(ConfigFileError) as caught:
        load_policy(file)
    assert caught.value.line is None
    assert str(caught.value).startswith(f"{file}: cannot read: ")

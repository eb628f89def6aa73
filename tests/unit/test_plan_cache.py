"""The plan cache: decoded plans by incident, fetched only when missing, the least recently used dropped."""

from __future__ import annotations

from typing import Any

from callcenter.db.plan_cache import PlanCache
from callcenter.domain.plan import FanOutPlan, PlannedLevel


def plan(name: str) -> FanOutPlan:
    return FanOutPlan((PlannedLevel(0, name, (), False, False),))


def decode(stored: Any) -> FanOutPlan:
    return plan(str(stored))


def test_only_missing_plans_are_fetched_and_decoded_once() -> None:
    cache, fetched = PlanCache(), []

    def fetch(ids: list[str]) -> list[tuple[str, str]]:
        fetched.append(ids)
        return [(i, f"level of {i}") for i in ids]

    first = cache.plans(["a", "b", "a"], fetch, decode)
    second = cache.plans(["b", "c"], fetch, decode)
    assert fetched == [["a", "b"], ["c"]]
    assert first["a"].levels[0].name == "level of a" and second["c"].levels[0].name == "level of c"
    assert second["b"] is first["b"]


def test_the_least_recently_used_plan_goes_first() -> None:
    cache = PlanCache(size=2)
    cache.put("a", plan("A"))
    cache.put("b", plan("B"))
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("c", plan("C"))
    assert (cache.get("a") is not None, cache.get("b"), cache.get("c") is not None) == (True, None, True)

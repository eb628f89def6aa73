"""FairDialQueue: which waiting call a free trunk channel takes (pure, no sockets)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callcenter.domain.messages import MessageFacts
from callcenter.domain.types import Channel, LegPurpose, Recipient
from callcenter.service.dial_queue import FairDialQueue, FairRanks
from callcenter.service.ports import LegOrder

T0 = datetime(2026, 7, 1, 3, 0, tzinfo=UTC)


def order(incident: str, n: int, *, pressed_s: float = 0.0, level: int = 0, leg_level: int = 0,
          wanted: int = 3) -> LegOrder:
    facts = MessageFacts("张家", "三组", "13800000001", T0 + timedelta(seconds=pressed_s), "unknown")
    return LegOrder(f"{incident}/{n}", incident, Channel.CALL, LegPurpose.ALERT, 1,
                    Recipient(f"n{n}", f"1390000{n:04d}", "household_contact"), "", facts,
                    incident_level=level, leg_level=leg_level, calls_wanted=wanted)


def fill(queue: FairDialQueue, incident: str, calls: int, **kwargs: object) -> None:
    for n in range(calls):
        queue.push(order(incident, n, **kwargs), f"{incident}-{n}")  # type: ignore[arg-type]


def drain(queue: FairDialQueue, count: int) -> list[str]:
    taken = []
    for _ in range(count):
        item = queue.pop()
        assert item is not None
        taken.append(item[0].incident_id)
    return taken


def test_every_incident_gets_a_first_call_before_any_gets_a_second() -> None:
    queue = FairDialQueue()
    for index, incident in enumerate(["a", "b", "c", "d"]):
        fill(queue, incident, 20, pressed_s=index)  # a pressed first, twenty neighbours each
    assert drain(queue, 4) == ["a", "b", "c", "d"]
    assert drain(queue, 4) == ["a", "b", "c", "d"]  # then a second each, oldest press first


def test_a_call_that_ended_makes_its_incident_needy_again() -> None:
    queue = FairDialQueue()
    fill(queue, "a", 5)
    fill(queue, "b", 5, pressed_s=1)
    assert drain(queue, 2) == ["a", "b"]
    queue.ended("b")  # b's call was busy: b has none up, a has one
    assert drain(queue, 1) == ["b"]
    assert queue.up("a") == 1 and queue.up("b") == 1


def test_while_others_wait_an_incident_gets_only_the_calls_its_quorum_needs() -> None:
    queue = FairDialQueue()
    fill(queue, "a", 20, wanted=2)
    fill(queue, "b", 20, pressed_s=1, wanted=3)
    fill(queue, "c", 20, pressed_s=2, wanted=1)
    taken = drain(queue, 6)
    assert sorted(taken) == ["a", "a", "b", "b", "b", "c"]  # each up to its quorum's need plus margin
    # Then the free channels go round again, fewest calls up first: c (1 up), then a (2), then b (3).
    assert drain(queue, 3) == ["c", "a", "c"]


def test_a_free_trunk_rings_a_lone_incident_s_whole_group() -> None:
    queue = FairDialQueue()
    fill(queue, "a", 20, wanted=3)
    assert drain(queue, 20) == ["a"] * 20
    assert queue.pop() is None and len(queue) == 0


def test_an_escalated_incident_comes_before_an_equally_served_one_and_its_upper_calls_first() -> None:
    queue = FairDialQueue()
    fill(queue, "old", 3, pressed_s=0)  # level-0 neighbours still waiting
    queue.push(order("old", 9, level=1, leg_level=1), "grid-worker")
    fill(queue, "new", 3, pressed_s=-5)  # pressed earlier, but never escalated
    first = queue.pop()
    assert first is not None and first[1] == "grid-worker"  # level 1 of the escalated incident first
    assert drain(queue, 1) == ["new"]  # then the other incident, which has no call up


def test_counts_and_waiting_incidents() -> None:
    queue = FairDialQueue()
    fill(queue, "a", 2)
    fill(queue, "b", 1)
    assert len(queue) == 3 and queue.waiting_incidents() == 2
    drain(queue, 3)
    assert queue.waiting_incidents() == 0 and queue.up("a") == 2
    queue.ended("a")
    queue.ended("a")
    queue.ended("a")  # one too many (a release after an end): never below zero
    assert queue.up("a") == 0


def test_fair_ranks_put_every_incident_s_first_leg_before_any_second() -> None:
    ranks = FairRanks()
    keys = {}
    for incident, pressed in (("a", 0), ("b", 5)):
        for n in range(4):
            keys[f"{incident}{n}"] = ranks.priority(order(incident, n, pressed_s=pressed, wanted=2))
    served = sorted(keys, key=keys.__getitem__)
    assert served == ["a0", "b0", "a1", "b1", "a2", "b2", "a3", "b3"]
    assert keys["a1"][0] == 0 and keys["a2"][0] == 1  # past the quorum's need plus margin: the second tier


def test_fair_ranks_forget_the_oldest_incidents_beyond_keep() -> None:
    ranks = FairRanks(keep=2)
    for incident in ("a", "b", "c"):
        ranks.priority(order(incident, 0))
    assert ranks.priority(order("a", 1))[1] == 0  # a was forgotten: its next leg ranks first again
    assert ranks.priority(order("c", 1))[1] == 1


def test_an_incident_never_rung_comes_before_an_older_one_whose_first_call_ended() -> None:
    """Presses within a minute of each other: every household's first neighbour rings before any
    incident whose first call was tried and ended (busy, no answer) gets its next one."""
    queue = FairDialQueue()
    fill(queue, "old", 5, pressed_s=0)
    assert drain(queue, 1) == ["old"]
    queue.ended("old")  # its first neighbour did not answer: it has none up again
    fill(queue, "new", 5, pressed_s=30)
    assert drain(queue, 2) == ["new", "old"]


def test_an_escalated_incident_with_no_call_up_comes_after_incidents_never_rung() -> None:
    queue = FairDialQueue()
    fill(queue, "climbed", 1)
    drain(queue, 1)
    queue.ended("climbed")
    queue.push(order("climbed", 9, level=1, leg_level=1), "grid-worker")
    fill(queue, "fresh", 2, pressed_s=40)
    assert drain(queue, 2) == ["fresh", "climbed"]


def test_a_first_call_that_never_rang_leaves_its_incident_among_the_never_rung() -> None:
    queue = FairDialQueue()
    fill(queue, "busy-first", 3, pressed_s=0)
    fill(queue, "rang-first", 3, pressed_s=1)
    assert drain(queue, 2) == ["busy-first", "rang-first"]
    queue.ended("busy-first", rang=False)  # 486 at once: no phone rang
    queue.ended("rang-first")  # rang 30 s, nobody answered
    fill(queue, "new", 3, pressed_s=20)
    assert drain(queue, 3) == ["busy-first", "new", "rang-first"]

"""The collector settings applied once the service has started (callcenter/heap.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from callcenter.heap import YOUNG_THRESHOLD, settle_after_start_up


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_start_up_objects_are_frozen_and_young_collections_spaced_out(restored_collector: None) -> None:
    built_at_start_up = [object() for _ in range(3)], {"a": [1]}
    _, middle, old = gc.get_threshold()
    settle_after_start_up()
    assert gc.get_freeze_count() > 0
    # Frozen: never scanned. Compared by identity: ``in`` would call every tracked object's __eq__, and
    # some (SQLAlchemy's cache keys, left by other tests in this worker) raise on a list.
    scanned = {id(o) for o in gc.get_objects()}
    assert not any(gc.is_tracked(o) and id(o) in scanned for o in built_at_start_up)
    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, old)


def test_cycles_made_after_start_up_are_still_collected(restored_collector: None) -> None:
    settle_after_start_up()

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2

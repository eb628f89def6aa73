"""Lock stripes: a fixed set of locks, one picked by hashing a key.

The engine serialises the commands of one incident in this process (keyed by incident id) and the
key presses of one household (keyed by open key), without a lock per incident kept forever. Two
sets: a press must never queue behind the commands (leg outcomes, hand-overs) of busy incidents
whose ids share its stripe. Saves stay safe across the two sets because they are optimistic
(``ConcurrentUpdateError`` re-runs the command); the stripes only keep a process from racing itself.
"""

from __future__ import annotations

import threading

__all__ = ["INCIDENT_STRIPES", "PRESS_STRIPES", "Stripes"]

INCIDENT_STRIPES = 256
PRESS_STRIPES = 4096  # a flood has hundreds of presses in flight: few may share a stripe


class Stripes:
    """``count`` locks; ``of(key)`` is the one for ``key`` (the same key always gets the same lock)."""

    def __init__(self, count: int) -> None:
        self._locks = [threading.Lock() for _ in range(count)]

    def of(self, key: str) -> threading.Lock:
        return self._locks[hash(key) % len(self._locks)]

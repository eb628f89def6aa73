"""What the press rate limit remembers: each line's recent counted presses and each household's
last closed incident. In memory, bounded, per process (see docs/operations.md "Abuse and fraud
guards" for what a restart forgets); the decisions are the pure ones of callcenter.domain.presses."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Generic, TypeVar

from callcenter.domain.policy import PressLimit
from callcenter.domain.presses import count_press, within_cooldown

_V = TypeVar("_V")


class _Bounded(Generic[_V]):
    """A dict that forgets its least recently written entries beyond ``size`` (a flood of made-up
    caller IDs cannot grow it without bound)."""

    def __init__(self, size: int) -> None:
        self._items: OrderedDict[str, _V] = OrderedDict()
        self._size = size

    def get(self, key: str) -> _V | None:
        return self._items.get(key)

    def put(self, key: str, value: _V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class PressLedger:
    def __init__(self, size: int = 50_000) -> None:
        self._presses: _Bounded[tuple[datetime, ...]] = _Bounded(size)
        self._closed: _Bounded[tuple[str, datetime]] = _Bounded(size)
        self._lock = threading.Lock()

    def count(self, line: str, now: datetime, limit: PressLimit) -> bool:
        """Record a press of ``line``; whether it counts under the rate limit."""
        with self._lock:
            counted, recent = count_press(self._presses.get(line) or (), now, limit)
            self._presses.put(line, recent)
            return counted

    def closed(self, open_key: str, incident_id: str, at: datetime) -> None:
        with self._lock:
            self._closed.put(open_key, (incident_id, at))

    def recent_close(self, open_key: str, now: datetime, limit: PressLimit) -> tuple[str, datetime] | None:
        """The household's incident closed within the cool-down, if any: (incident id, closed at)."""
        with self._lock:
            found = self._closed.get(open_key)
        return found if found is not None and within_cooldown(found[1], now, limit) else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._presses)

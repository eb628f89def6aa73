"""In-process event bus: the console and tests subscribe to incident events as they commit."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from callcenter.domain.incident import IncidentEvent

__all__ = ["EventBus", "Published", "Subscriber"]


@dataclass(frozen=True, slots=True)
class Published:
    incident_id: str
    event: IncidentEvent


Subscriber = Callable[[Published], None]


class EventBus:
    """Fan-out to subscribers plus a bounded history that ``wait_for`` can search."""

    def __init__(self, history: int = 10_000) -> None:
        self._subscribers: list[Subscriber] = []
        self._history: deque[Published] = deque(maxlen=history)
        self._changed = threading.Condition()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, incident_id: str, events: Sequence[IncidentEvent]) -> None:
        items = [Published(incident_id, e) for e in events]
        with self._changed:
            self._history.extend(items)
            self._changed.notify_all()
        for item in items:
            for subscriber in list(self._subscribers):
                subscriber(item)

    def wait_for(self, match: Callable[[Published], bool], timeout: float) -> Published:
        """The first published event (past or future) matching ``match``; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for item in self._history:
                    if match(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no matching incident event")
                self._changed.wait(left)

    def history(self) -> list[Published]:
        with self._changed:
            return list(self._history)

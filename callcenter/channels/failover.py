"""A composite AlertChannel that moves legs off a failing path (e.g. SIP ↔ Twilio).

Each leg goes to the first healthy path the channel policy lists for its number. When a path
fails as a whole (its send raises PathDown, ConnectionError or TimeoutError, or its health check
turns bad) the legs still waiting on it are released and re-sent on the next path, new legs skip
it until it is healthy again, and each incident concerned gets one timeline note per switch.

A path whose ``send`` returns before the leg is placed (the SIP channel queues for a trunk slot)
hands such legs back through its ``hand_back`` (callcenter.channels.ports.HandBack), which this
channel connects when it is built: the leg is then sent on the next path in policy order, never on
the one that gave it back.

The paths are named ("sip", "twilio", …) as config/channels.yaml names them (callcenter.channels.routes);
this module knows no provider. ``failover_channel`` builds one for the composition root.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from callcenter.channels.errors import ChannelError, LegStoodDown, NoPathError, PathDown
from callcenter.channels.ports import FailoverPath, HandBack, LegOrder, close_sends, is_queued
from callcenter.channels.routes import ChannelRoutes
from callcenter.domain.types import SYSTEM, Actor, Channel, LegPurpose

__all__ = ["FailoverChannel", "TimelineNotes", "failover_channel", "is_path_down"]

log = logging.getLogger(__name__)
_LABELS = {Channel.CALL: "告警呼叫", Channel.SMS: "告警短信"}


class TimelineNotes(Protocol):
    def add_note(self, incident_id: str, text: str, actor: Actor) -> object: ...


def is_path_down(exc: BaseException) -> bool:
    return isinstance(exc, (PathDown, ConnectionError, TimeoutError))


@dataclass(frozen=True, slots=True)
class _Down:
    reason: str
    since: float
    by_send: bool  # seen by a failed send (a 503, a timeout): only time tells when it is back


class FailoverChannel:
    def __init__(self, kind: Channel, routes: ChannelRoutes, paths: Mapping[str, FailoverPath],
                 notes: TimelineNotes | None = None, name: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kind, self.routes, self.paths, self.notes = kind, routes, dict(paths), notes
        self.name = name or f"{kind}-failover"
        # A leg in flight on a path that dies with us (SIP) must be replaced after a restart.
        self.survives_restart = all(p.survives_restart for p in self.paths.values())
        self._clock = clock
        self._down: dict[str, _Down] = {}
        self._noted: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._closed = False  # close_sends ran: no failing over any more
        self._monitor: threading.Thread | None = None
        for path, channel in self.paths.items():
            hand_back = getattr(channel, "hand_back", None)
            if isinstance(hand_back, HandBack):
                hand_back.connect(functools.partial(self.resend, path))

    # -- AlertChannel ----------------------------------------------------------------------

    def send(self, order: LegOrder) -> str:
        listed = self._listed(order)
        if not listed:
            raise NoPathError(f"no {self.kind} path configured for {order.recipient.phone}")
        return self._send_over(order, listed, self._by_health(listed))

    def is_queued(self, ref: str) -> bool:
        """``ref`` as ``send`` returned it (``path:inner``): whether that path holds it waiting."""
        path, _, inner = ref.partition(":")
        channel = self.paths.get(path)
        return channel is not None and is_queued(channel, inner)

    def resend(self, released_by: str, order: LegOrder, reason: str) -> str:
        """A leg ``released_by`` took but never placed: that path is failing; send it on the others."""
        if released_by not in self._down:  # a path already down keeps how it went down (health or send)
            self.path_failed(released_by, reason)
        listed = self._listed(order)
        others = [p for p in self._by_health(listed) if p != released_by]
        if not others:
            raise NoPathError(f"no {self.kind} path but {released_by} for {order.recipient.phone}")
        return self._send_over(order, listed, others)

    def reaches(self, phone: str, purpose: LegPurpose) -> bool:
        """Whether any path this channel has is listed for ``phone`` and that kind of message."""
        return any(p in self.paths for p in self.routes.paths_for(self.kind, phone, purpose))

    def _listed(self, order: LegOrder) -> list[str]:
        """The paths policy lists for this leg's number and message kind, that this channel has."""
        return [p for p in self.routes.paths_for(self.kind, order.recipient.phone, order.purpose) if p in self.paths]

    def _send_over(self, order: LegOrder, listed: list[str], candidates: list[str]) -> str:
        errors: list[str] = []
        for path in candidates:
            try:
                ref = self.paths[path].send(order)
            except LegStoodDown:
                raise
            except Exception as exc:  # any path's failure: try the next before giving the leg up
                if self._closed:
                    raise ChannelError(f"{path}: {exc}; not moved, the service is stopping") from exc
                errors.append(f"{path}: {exc}")
                if is_path_down(exc):
                    self.path_failed(path, str(exc))
                continue
            if path != listed[0]:
                self._note_moved(order, listed[0], path)
            return f"{path}:{ref}"
        raise ChannelError("; ".join(errors))

    def _by_health(self, listed: list[str]) -> list[str]:
        """Usable paths in policy order, then the failing ones as a last resort."""
        return sorted(listed, key=lambda p: not self.usable(p))

    def usable(self, path: str) -> bool:
        down = self._down.get(path)
        if not self.paths[path].is_healthy():
            return False
        return down is None or not down.by_send or self._clock() - down.since >= self.routes.recheck_seconds

    # -- failing over ----------------------------------------------------------------------

    def path_failed(self, path: str, reason: str, by_send: bool = True) -> None:
        with self._lock:
            first = path not in self._down
            self._down[path] = _Down(reason, self._clock(), by_send)
        if first:
            released = self.paths[path].release_pending()
            log.warning("%s: path %s failing (%s); %d waiting legs move on", self.name, path, reason, released)

    def _path_recovered(self, path: str) -> None:
        with self._lock:
            self._down.pop(path, None)
            self._noted = {n for n in self._noted if n[1] != path}
        log.info("%s: path %s healthy again", self.name, path)

    def check_health(self) -> None:
        """One round of the monitor: a path turning unhealthy releases its waiting legs."""
        for path, channel in self.paths.items():
            healthy, down = channel.is_healthy(), self._down.get(path)
            if not healthy and down is None:
                self.path_failed(path, "health check failed (e.g. registration lost)", by_send=False)
            elif down is not None and self.usable(path):
                self._path_recovered(path)

    def _note_moved(self, order: LegOrder, preferred: str, used: str) -> None:
        key = (order.incident_id, preferred, used)
        with self._lock:
            if key in self._noted:
                return
            self._noted.add(key)
            down = self._down.get(preferred)
            reason = down.reason if down else "不可用"
        text = f"通道切换：{_LABELS[self.kind]}由{preferred}改走{used}（{preferred}故障：{reason}）"
        log.warning("incident %s: %s", order.incident_id, text)
        if self.notes is not None:
            try:
                self.notes.add_note(order.incident_id, text, SYSTEM)
            except Exception:  # the leg went out; a closed incident just takes no note
                log.exception("timeline note for incident %s not written", order.incident_id)

    def close_sends(self) -> None:
        """The service is stopping: every path that paces its sends stops sending, and a send that
        gives up for it is not moved to another path (nor noted as a switch): it stays unsent."""
        self._closed = True
        for channel in self.paths.values():
            close_sends(channel)

    # -- monitor ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._monitor is None:
            self._monitor = threading.Thread(target=self._watch, name=f"{self.name}-health", daemon=True)
            self._monitor.start()

    def stop(self) -> None:
        self._stop.set()
        if self._monitor is not None:
            self._monitor.join(timeout=5)

    def _watch(self) -> None:
        while not self._stop.wait(self.routes.health_check_seconds):
            try:
                self.check_health()
            except Exception:  # the monitor must outlive a bad health probe
                log.exception("%s: health check failed", self.name)


def failover_channel(kind: Channel, routes: ChannelRoutes, paths: Mapping[str, FailoverPath],
                     notes: TimelineNotes | None = None) -> FailoverChannel:
    """The composite channel for ``kind`` over ``paths`` (path name → channel), routed per ``routes``;
    a switch is noted on the incident's timeline through ``notes``."""
    name = f"{kind}-{'+'.join(sorted(paths))}"
    # The name is stored as each leg's provider (16 characters): four SMS providers do not fit it.
    return FailoverChannel(kind, routes, paths, notes=notes, name=name if len(name) <= 16 else f"{kind}-failover")

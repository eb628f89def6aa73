"""The channel ports: what a provider's channel implements to carry alert legs, and to be a failover path.

``AlertChannel``, ``LegOrder``, ``OutcomeSink``, ``close_sends`` and the queued-call helpers
(``is_queued``, ``handed_over_status``) are the engine's ports and stay
defined with its others in callcenter.service.ports; they are re-exported here so that a provider
package finds every port it implements in one place. ``ChannelHealth`` and ``FailoverPath`` are
this package's own: what the failover channel (callcenter.channels.failover) asks of its paths.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from callcenter.channels.errors import NoPathError
from callcenter.service.ports import AlertChannel, LegOrder, OutcomeSink, close_sends, handed_over_status, is_queued

__all__ = [
    "AlertChannel",
    "ChannelHealth",
    "FailoverPath",
    "HandBack",
    "LegOrder",
    "OutcomeSink",
    "Released",
    "close_sends",
    "handed_over_status",
    "is_queued",
]

# What a hand-back calls: (leg, why the path is down); the failover channel's resend on its other paths.
Released = Callable[[LegOrder, str], object]


class HandBack:
    """Where a path whose ``send`` returns before the leg is placed (the SIP channel queues legs for a
    trunk channel) hands back a leg it will not place, with why its path is down.

    The path is built with one (its ``hand_back``); the failover channel over it connects its resend
    when it is constructed, so the leg is sent on another path. A path used alone has nothing
    connected: calling it raises NoPathError, and the path fails the leg for the engine to redial."""

    def __init__(self) -> None:
        self._resend: Released | None = None

    def connect(self, resend: Released) -> None:
        if self._resend is not None:
            raise ValueError("this path already hands its legs back to a failover channel")
        self._resend = resend

    @property
    def connected(self) -> bool:
        return self._resend is not None

    def __call__(self, order: LegOrder, reason: str) -> object:
        if self._resend is None:
            raise NoPathError(f"no other path to hand leg {order.leg_id} to ({reason})")
        return self._resend(order, reason)


class ChannelHealth(Protocol):
    """How a path tells the failover channel it is usable, and gives back legs not yet placed."""

    def is_healthy(self) -> bool: ...

    def release_pending(self) -> int:
        """Sends still waiting on this path (for a slot, a trunk channel) raise PathDown now."""
        ...


class FailoverPath(AlertChannel, ChannelHealth, Protocol):
    pass

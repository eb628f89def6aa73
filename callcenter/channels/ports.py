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

from callcenter.service.ports import AlertChannel, LegOrder, OutcomeSink, close_sends, handed_over_status, is_queued

__all__ = [
    "AlertChannel",
    "ChannelHealth",
    "FailoverPath",
    "LegOrder",
    "OutcomeSink",
    "Released",
    "close_sends",
    "handed_over_status",
    "is_queued",
]

# A path whose ``send`` returns before the leg is placed (the SIP channel queues for a trunk slot) hands
# a leg it will not place back through an ``on_released`` attribute of this type, (leg, why the path is
# down), which the failover channel sets: the leg is then sent on another path.
Released = Callable[[LegOrder, str], object]


class ChannelHealth(Protocol):
    """How a path tells the failover channel it is usable, and gives back legs not yet placed."""

    def is_healthy(self) -> bool: ...

    def release_pending(self) -> int:
        """Sends still waiting on this path (for a slot, a trunk channel) raise PathDown now."""
        ...


class FailoverPath(AlertChannel, ChannelHealth, Protocol):
    pass

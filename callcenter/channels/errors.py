"""The channel error tree: why a channel did not place a leg, the same for every provider.

    ChannelError              a channel did not place a leg; the engine records it FAILED with this message
    ├── LegStoodDown          the incident no longer wants the leg (quorum met, acknowledged): no path may send it
    ├── NoPathError           no path is configured for this kind of number on this channel
    ├── PathDown              a whole path is failing (SIP registration lost, trunk 503), not one recipient
    │   └── ProviderDown      (also a ProviderError, below)
    └── ProviderError         a provider's API did not take the call or message
        ├── ProviderRefused   it refused this one (4xx: bad number, unverified sender, account suspended);
        │                     retrying will not help
        ├── RateLimited       it asks us to slow down (429): try again after a back-off on the same path
        └── ProviderDown      5xx, unreachable, timeout: retry, then fail over (also a PathDown)

Who acts on which: the failover channel (callcenter.channels.failover) never moves a LegStoodDown,
marks a path down on PathDown (and on the built-in ConnectionError and TimeoutError) and tries the
next path on anything else; a provider's channel retries RateLimited and ProviderDown on its own
path first; the engine records every failure alike. Provider packages translate their SDK's and
protocol's exceptions into this tree at the boundary (the Twilio package's ``errors.translate``).
"""

from __future__ import annotations

__all__ = [
    "ChannelError",
    "LegStoodDown",
    "NoPathError",
    "PathDown",
    "ProviderDown",
    "ProviderError",
    "ProviderRefused",
    "RateLimited",
]


class ChannelError(Exception):
    """A channel refused or failed to place a leg (provider refused, unreachable, our fault)."""


class LegStoodDown(ChannelError):
    """Not sent: the incident stood the leg down (quorum met, acknowledged) while it waited for a slot."""


class NoPathError(ChannelError):
    """No path is configured for this kind of number on this channel."""


class PathDown(ChannelError):
    """A path to recipients (SIP trunk, a provider) is failing as a whole, not just for one recipient."""


class ProviderError(ChannelError):
    """A provider's API did not take a call or message."""


class ProviderRefused(ProviderError):
    pass


class RateLimited(ProviderError):
    pass


class ProviderDown(ProviderError, PathDown):
    pass

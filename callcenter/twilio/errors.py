"""Errors of the Twilio adapters: the SDK's exceptions are translated here, at the boundary.

    ChannelError (callcenter.service.engine)
    ├── PathDown              a whole path fails (any provider): the failover channel moves its legs
    ├── LegStoodDown          the incident no longer wants the leg: no path may send it
    └── TwilioChannelError
        ├── ProviderRefused   4xx: bad number, unverified sender, account suspended; retrying will not help
        ├── RateLimited       429 or error 20429: try again after a back-off on the same path
        └── ProviderDown      5xx, connection refused, timeout: retry, then fail over (also a PathDown)
"""

from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException

from callcenter.service.engine import ChannelError

RATE_LIMIT_CODE = 20429


class PathDown(ChannelError):
    """A path to recipients (SIP trunk, Twilio) is failing as a whole, not just for one recipient."""


class LegStoodDown(ChannelError):
    """Not sent: the incident stood the leg down (quorum met, acknowledged) while it waited for a slot."""


class TwilioChannelError(ChannelError):
    """Twilio did not take a call or message."""


class ProviderRefused(TwilioChannelError):
    pass


class RateLimited(TwilioChannelError):
    pass


class ProviderDown(TwilioChannelError, PathDown):
    pass


def translate(exc: Exception) -> TwilioChannelError:
    """Our error for an exception raised by the twilio client or the HTTP stack below it."""
    if isinstance(exc, TwilioChannelError):
        return exc
    if isinstance(exc, TwilioRestException):
        return _from_rest(exc)
    if isinstance(exc, requests.Timeout):
        return ProviderDown(f"Twilio did not answer in time: {exc}")
    if isinstance(exc, (requests.ConnectionError, OSError)):
        return ProviderDown(f"Twilio unreachable: {exc}")
    if isinstance(exc, (TwilioException, requests.RequestException)):
        return ProviderDown(f"Twilio client error: {exc}")
    return ProviderDown(f"{type(exc).__name__}: {exc}")


def _from_rest(exc: TwilioRestException) -> TwilioChannelError:
    what = f"Twilio {exc.status}" + (f" error {exc.code}" if exc.code else "") + f": {exc.msg}"
    if exc.status == 429 or exc.code == RATE_LIMIT_CODE:
        return RateLimited(what)
    if exc.status >= 500:
        return ProviderDown(what)
    return ProviderRefused(what)

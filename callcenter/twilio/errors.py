"""Twilio's exceptions translated, at the boundary, into the channel error tree (callcenter.channels.errors).

    TwilioRestException 429, or error 20429         → RateLimited
    TwilioRestException 5xx                          → ProviderDown
    TwilioRestException any other status (4xx)       → ProviderRefused
    requests timeout, connection error, OSError      → ProviderDown
    any other exception of the client or below it    → ProviderDown
"""

from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException

from callcenter.channels.errors import ProviderDown, ProviderError, ProviderRefused, RateLimited

__all__ = ["translate"]

RATE_LIMIT_CODE = 20429


def translate(exc: Exception) -> ProviderError:
    """Our error for an exception raised by the twilio client or the HTTP stack below it."""
    if isinstance(exc, ProviderError):
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


def _from_rest(exc: TwilioRestException) -> ProviderError:
    what = f"Twilio {exc.status}" + (f" error {exc.code}" if exc.code else "") + f": {exc.msg}"
    if exc.status == 429 or exc.code == RATE_LIMIT_CODE:
        return RateLimited(what)
    if exc.status >= 500:
        return ProviderDown(what)
    return ProviderRefused(what)

"""Whether a failed HTTP request to a provider provably never reached it (for any SDK built on requests).

A message may be sent through another provider only when the first provably did not take it: the
connection was refused, the name did not resolve, or connecting timed out. A read timeout, a reset
after the request went out or any other failure may have reached the provider (callcenter.channels.template_sms).
SDKs wrap the requests/urllib3 exception in their own (Aliyun's UnretryableException → RetryError,
Tencent's TencentCloudSDKException "ClientNetworkError"), raised while handling it: the chain is walked.
"""

from __future__ import annotations

from collections.abc import Iterator

from requests.exceptions import ConnectTimeout
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

__all__ = ["never_sent"]

_NOT_SENT = (ConnectTimeout, ConnectTimeoutError, NewConnectionError, NameResolutionError, ConnectionRefusedError)


def never_sent(exc: BaseException) -> bool:
    """True when ``exc`` (or what it wraps) says the request never left: no connection was made."""
    return any(isinstance(found, _NOT_SENT) for found in _chain(exc, 0))


def _chain(exc: BaseException | None, depth: int) -> Iterator[BaseException]:
    if exc is None or depth > 8:
        return
    yield exc
    for inner in (getattr(exc, "inner_exception", None), getattr(exc, "reason", None), exc.__cause__,
                  exc.__context__, *exc.args):
        if isinstance(inner, BaseException) and inner is not exc:
            yield from _chain(inner, depth + 1)

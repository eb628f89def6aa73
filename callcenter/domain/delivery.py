"""Why an SMS was not delivered, in one vocabulary for every provider.

Each provider reports failure in its own codes (Aliyun ``MK:0005``/``isv.…``, Tencent ``…``, an SMSC's
``stat``/``err`` in a delivery receipt, Twilio's 30003…); its package maps them to a ``DeliveryFailure``
and writes the leg's UNDELIVERED detail with ``delivery_detail``, so that the console, /metrics and
the operators read the same words whoever carried the message. The detail keeps the provider's own
code after the reason, for the provider's support desk.
"""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = ["DELIVERY_WINDOW_HOURS", "DeliveryFailure", "delivery_detail", "failure_of"]

# Providers keep a message's delivery report for 72 hours (Aliyun's QuerySendDetails, Tencent's
# pull, an SMSC's validity period): a message with no report after that is never going to get one.
DELIVERY_WINDOW_HOURS = 72


class DeliveryFailure(StrEnum):
    BLACKLISTED = "blacklisted"  # the number (or the content) is on the provider's or carrier's block list
    SWITCHED_OFF = "switched_off"  # phone off, out of coverage or memory full: the carrier gave up
    INVALID_NUMBER = "invalid_number"  # empty, cancelled or malformed number
    THROTTLED = "throttled"  # a per-number or per-account limit refused it
    REJECTED = "rejected"  # the carrier or provider refused it for another reason (content, template)
    EXPIRED = "expired"  # the validity period passed before delivery
    UNKNOWN = "unknown"  # no report came within the provider's window
    OTHER = "other"


_DETAIL = re.compile(r"^undelivered: ([a-z_]+)")


def delivery_detail(failure: DeliveryFailure, provider_code: str = "") -> str:
    """The UNDELIVERED leg's detail: ``undelivered: switched_off (MK:0005)``."""
    code = provider_code.strip()
    return f"undelivered: {failure.value}" + (f" ({code})" if code else "")


def failure_of(detail: str) -> DeliveryFailure | None:
    """The reason back from a leg's detail (for /metrics), None for a detail not written by delivery_detail."""
    found = _DETAIL.match(detail or "")
    if found is None:
        return None
    try:
        return DeliveryFailure(found.group(1))
    except ValueError:
        return None

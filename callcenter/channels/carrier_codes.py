"""The carriers' delivery-receipt codes, as mainland SMS providers pass them on, mapped to DeliveryFailure.

China Mobile, Unicom and Telecom report a message's fate in the receipt's ``stat`` (DELIVRD, UNDELIV,
EXPIRED, REJECTD, …) or, for failures, in a gateway code such as ``MK:0005`` or ``MN:0001``; Aliyun's
SmsReport ``err_code`` and Tencent's status ``errmsg`` carry them unchanged. The table holds the codes
whose meaning is settled (providers' published code lists); any other code is ``other`` and keeps the
code itself in the leg's detail for the provider's support desk. Pure.
"""

from __future__ import annotations

from callcenter.channels.delivery import DeliveryFailure

__all__ = ["DELIVERED_CODES", "carrier_failure"]

DELIVERED_CODES = frozenset({"DELIVRD", "DELIVERED", "0"})

_EXACT: dict[str, DeliveryFailure] = {
    "UNDELIV": DeliveryFailure.OTHER,
    "EXPIRED": DeliveryFailure.EXPIRED,
    "REJECTD": DeliveryFailure.REJECTED,
    "REJECT": DeliveryFailure.REJECTED,
    "BLACK": DeliveryFailure.BLACKLISTED,
    "MBBLACK": DeliveryFailure.BLACKLISTED,
    "DB:0141": DeliveryFailure.BLACKLISTED,  # the number is on the carrier's block list
    "MK:0008": DeliveryFailure.BLACKLISTED,
    "MK:0005": DeliveryFailure.SWITCHED_OFF,  # phone off or unreachable
    "MK:0004": DeliveryFailure.SWITCHED_OFF,  # handset memory full or not answering
    "MK:0015": DeliveryFailure.SWITCHED_OFF,
    "IB:0008": DeliveryFailure.SWITCHED_OFF,
    "MN:0001": DeliveryFailure.INVALID_NUMBER,  # empty (unassigned) number
    "MN:0017": DeliveryFailure.INVALID_NUMBER,  # number cancelled
    "MI:0024": DeliveryFailure.INVALID_NUMBER,
    "MK:0012": DeliveryFailure.INVALID_NUMBER,
    "IC:0151": DeliveryFailure.THROTTLED,  # the carrier's per-number frequency limit
    "isv.BUSINESS_LIMIT_CONTROL": DeliveryFailure.THROTTLED,
}

_PREFIX: tuple[tuple[str, DeliveryFailure], ...] = (
    ("MN:", DeliveryFailure.INVALID_NUMBER),  # "MN": the number itself
    ("EXPIRE", DeliveryFailure.EXPIRED),
)


def carrier_failure(code: str) -> DeliveryFailure:
    """Why the carrier did not deliver, for a receipt ``code`` that is not a delivered one."""
    code = code.strip()
    if code in _EXACT:
        return _EXACT[code]
    return next((failure for prefix, failure in _PREFIX if code.startswith(prefix)), DeliveryFailure.OTHER)

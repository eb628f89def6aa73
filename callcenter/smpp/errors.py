"""SMPP's command_status in a response, translated at the boundary into the channel error tree.

    ESME_RTHROTTLED (0x58), ESME_RMSGQFUL (0x14)                          → RateLimited
    ESME_RSYSERR (0x08), ESME_RSUBMITFAIL (0x45), ESME_RINVBNDSTS (0x04),
    ESME_RBINDFAIL (0x0D), ESME_RUNKNOWNERR (0xFF), ESME_RX_T_APPN (0x64)  → ProviderDown
    every other error (bad destination or source address, length, class) → ProviderRefused
    the connection lost or never bound (message not written)               → ProviderDown

A ``submit_sm_resp`` with an error status means the SMSC did not take the message, so any of these
lets the failover send it elsewhere without a duplicate.
"""

from __future__ import annotations

from callcenter.channels.errors import ProviderDown, ProviderError, ProviderRefused, RateLimited

__all__ = ["STATUS_NAMES", "translate_status"]

STATUS_NAMES = {
    0x01: "ESME_RINVMSGLEN", 0x02: "ESME_RINVCMDLEN", 0x03: "ESME_RINVCMDID", 0x04: "ESME_RINVBNDSTS",
    0x08: "ESME_RSYSERR", 0x0A: "ESME_RINVSRCADR", 0x0B: "ESME_RINVDSTADR", 0x0C: "ESME_RINVMSGID",
    0x0D: "ESME_RBINDFAIL", 0x0E: "ESME_RINVPASWD", 0x0F: "ESME_RINVSYSID", 0x14: "ESME_RMSGQFUL",
    0x43: "ESME_RINVESMCLASS", 0x45: "ESME_RSUBMITFAIL", 0x48: "ESME_RINVSRCTON", 0x49: "ESME_RINVSRCNPI",
    0x50: "ESME_RINVDSTTON", 0x51: "ESME_RINVDSTNPI", 0x58: "ESME_RTHROTTLED", 0x61: "ESME_RINVSCHED",
    0x62: "ESME_RINVEXPIRY", 0x64: "ESME_RX_T_APPN", 0x66: "ESME_RX_R_APPN", 0xFF: "ESME_RUNKNOWNERR",
}
_THROTTLED = frozenset({0x14, 0x58})
_DOWN = frozenset({0x04, 0x08, 0x0D, 0x45, 0x64, 0xFF})


def translate_status(status: int, what: str = "submit_sm") -> ProviderError:
    name = STATUS_NAMES.get(status, f"0x{status:08X}")
    message = f"SMSC answered {what} with {name}"
    if status in _THROTTLED:
        return RateLimited(message)
    if status in _DOWN:
        return ProviderDown(message)
    return ProviderRefused(message)

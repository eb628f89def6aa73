"""Twilio status callbacks → our leg statuses (pure tables)."""

from __future__ import annotations

from collections.abc import Mapping

from callcenter.domain.types import CallerTrust, LegStatus

__all__ = [
    "CALL_STATUSES", "FULL_ATTESTATION", "MACHINE_ANSWERS", "SMS_STATUSES", "call_outcome", "caller_trust", "detail",
    "is_machine", "provider_ref", "sms_outcome",
]

CALL_STATUSES: dict[str, LegStatus] = {
    "ringing": LegStatus.RINGING,
    "in-progress": LegStatus.ANSWERED,
    "answered": LegStatus.ANSWERED,
    "busy": LegStatus.BUSY,
    "no-answer": LegStatus.NO_ANSWER,
    "failed": LegStatus.FAILED,
    "canceled": LegStatus.FAILED,  # we never cancel alert calls: someone else did, nobody was reached
    # A call that ends without a key is "answered without key"; if 1 or 2 came first, that stands.
    "completed": LegStatus.ANSWERED_WITHOUT_KEY,
}
# "queued" and "sent" only repeat what the accepted create already recorded (submitted).
SMS_STATUSES: dict[str, LegStatus] = {
    "delivered": LegStatus.DELIVERED,
    "undelivered": LegStatus.UNDELIVERED,
    "failed": LegStatus.FAILED,
}
MACHINE_ANSWERS = frozenset({"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"})


# STIR/SHAKEN as Twilio passes it on an inbound call (StirVerstat): only full attestation of a
# validated signature says the carrier knows the caller owns the number.
FULL_ATTESTATION = "TN-Validation-Passed-A"


def caller_trust(params: Mapping[str, str]) -> CallerTrust:
    """A household calling our Twilio number: attested, or unverified (any other verdict, or none)."""
    return CallerTrust.ATTESTED if params.get("StirVerstat", "") == FULL_ATTESTATION else CallerTrust.UNVERIFIED


def is_machine(answered_by: str) -> bool:
    return answered_by in MACHINE_ANSWERS


def call_outcome(params: Mapping[str, str]) -> LegStatus | None:
    """The leg status a call status callback reports; None for steps we do not record (queued)."""
    status = CALL_STATUSES.get(params.get("CallStatus", ""))
    if status in (LegStatus.ANSWERED, LegStatus.ANSWERED_WITHOUT_KEY) and is_machine(params.get("AnsweredBy", "")):
        return LegStatus.ANSWERED_WITHOUT_KEY  # a voicemail is never a person reached
    return status


def sms_outcome(params: Mapping[str, str]) -> LegStatus | None:
    return SMS_STATUSES.get(params.get("MessageStatus") or params.get("SmsStatus", ""))


def detail(params: Mapping[str, str]) -> str:
    """What the operators see next to the status: Twilio's status, error code, machine verdict."""
    parts = [f"twilio {params.get('CallStatus') or params.get('MessageStatus') or params.get('SmsStatus', '?')}"]
    for key in ("AnsweredBy", "ErrorCode", "SipResponseCode"):
        if params.get(key):
            parts.append(f"{key}={params[key]}")
    return " ".join(parts)


def provider_ref(params: Mapping[str, str]) -> str:
    """The SID as the failover channel names it when it places the leg: ``twilio:CA…``."""
    sid = params.get("CallSid") or params.get("MessageSid") or params.get("SmsSid", "")
    return f"twilio:{sid}" if sid else ""

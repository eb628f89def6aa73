from __future__ import annotations

import pytest

from callcenter.domain.types import CHANNEL_OUTCOMES, Channel, LegStatus
from callcenter.twilio.outcomes import CALL_STATUSES, SMS_STATUSES, call_outcome, detail, provider_ref, sms_outcome


@pytest.mark.parametrize(("status", "answered_by", "expected"), [
    ("queued", "", None), ("initiated", "", None), ("ringing", "", LegStatus.RINGING),
    ("in-progress", "human", LegStatus.ANSWERED), ("in-progress", "machine_start", LegStatus.ANSWERED_WITHOUT_KEY),
    ("busy", "", LegStatus.BUSY), ("no-answer", "", LegStatus.NO_ANSWER), ("failed", "", LegStatus.FAILED),
    ("canceled", "", LegStatus.FAILED), ("completed", "human", LegStatus.ANSWERED_WITHOUT_KEY),
    ("completed", "machine_end_beep", LegStatus.ANSWERED_WITHOUT_KEY),
    ("completed", "fax", LegStatus.ANSWERED_WITHOUT_KEY),
])
def test_call_statuses(status: str, answered_by: str, expected: LegStatus | None) -> None:
    assert call_outcome({"CallStatus": status, "AnsweredBy": answered_by}) == expected


@pytest.mark.parametrize(("status", "expected"), [
    ("queued", None), ("sent", None), ("delivered", LegStatus.DELIVERED),
    ("undelivered", LegStatus.UNDELIVERED), ("failed", LegStatus.FAILED),
])
def test_sms_statuses(status: str, expected: LegStatus | None) -> None:
    assert sms_outcome({"MessageStatus": status}) == expected


def test_every_mapped_status_is_one_the_channel_may_report() -> None:
    assert set(CALL_STATUSES.values()) <= CHANNEL_OUTCOMES[Channel.CALL]
    assert set(SMS_STATUSES.values()) <= CHANNEL_OUTCOMES[Channel.SMS]


def test_detail_and_reference() -> None:
    params = {"CallSid": "CA1", "CallStatus": "failed", "ErrorCode": "32009", "SipResponseCode": "503"}
    assert detail(params) == "twilio failed ErrorCode=32009 SipResponseCode=503"
    assert provider_ref(params) == "twilio:CA1" and provider_ref({}) == ""

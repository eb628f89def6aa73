"""Aliyun and Tencent codes mapped to the channel error tree and to delivery failures; the report ledger
(matching, replays, forged reports, uncertain sends, silence, the 72-hour window); path health; pushes parsed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from darabonba.exceptions import RetryError, UnretryableException
from darabonba.policy.retry import RetryPolicyContext
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from urllib3.exceptions import NewConnectionError

from callcenter.aliyun_sms import errors as aliyun
from callcenter.aliyun_sms.push import parse_replies, parse_reports
from callcenter.channels.carrier_codes import carrier_failure
from callcenter.channels.delivery import DeliveryFailure
from callcenter.channels.errors import ProviderDown, ProviderRefused, RateLimited
from callcenter.channels.health import PathHealth
from callcenter.channels.http_errors import never_sent
from callcenter.channels.sms_ledger import DeliveryReport, ReportLedger, Settled, Submission
from callcenter.channels.template_sms import SubmitUncertain
from callcenter.domain.types import LegStatus
from callcenter.tencent_sms import errors as tencent
from callcenter.tencent_sms.push import parse_reply
from callcenter.tencent_sms.push import parse_reports as tencent_reports


@pytest.mark.parametrize(("code", "error"), [
    ("isv.BUSINESS_LIMIT_CONTROL", RateLimited), ("isv.DAY_LIMIT_CONTROL", RateLimited),
    ("Throttling.User", RateLimited), ("isv.MOBILE_NUMBER_ILLEGAL", ProviderRefused),
    ("isv.BLACK_KEY_CONTROL_LIMIT", ProviderRefused), ("isv.SMS_TEMPLATE_ILLEGAL", ProviderRefused),
    ("isv.TEMPLATE_MISSING_PARAMETERS", ProviderRefused), ("isv.AMOUNT_NOT_ENOUGH", ProviderDown),
    ("isv.OUT_OF_SERVICE", ProviderDown), ("isp.SYSTEM_ERROR", ProviderDown),
])
def test_aliyun_business_codes(code: str, error: type[Exception]) -> None:
    assert type(aliyun.answer_error(code, "…")) is error


def test_aliyun_sdk_exceptions() -> None:
    signature = ClientException(status_code=400, code="SignatureDoesNotMatch", message="bad")
    assert isinstance(aliyun.translate(signature), ProviderDown)
    assert isinstance(aliyun.translate(ServerException(status_code=503, code="ServiceUnavailable", message="")),
                      ProviderDown)
    assert isinstance(aliyun.translate(ClientException(status_code=400, code="isv.X", message="")), ProviderRefused)
    assert isinstance(aliyun.translate(_unretryable(requests.ConnectionError(_refused()))), ProviderDown)
    assert isinstance(aliyun.translate(_unretryable(requests.ReadTimeout("read timed out"))), SubmitUncertain)


@pytest.mark.parametrize(("code", "error"), [
    ("LimitExceeded.PhoneNumberDailyLimit", RateLimited), ("RequestLimitExceeded", RateLimited),
    ("FailedOperation.TemplateParamSetNotMatchApprovedTemplate", ProviderRefused),
    ("InvalidParameterValue.IncorrectPhoneNumber", ProviderRefused),
    ("FailedOperation.PhoneNumberInBlacklist", ProviderRefused), ("AuthFailure.SignatureFailure", ProviderDown),
    ("FailedOperation.InsufficientBalanceInSmsPackage", ProviderDown), ("InternalError.Timeout", ProviderDown),
    ("ServerNetworkError", ProviderDown),
])
def test_tencent_codes(code: str, error: type[Exception]) -> None:
    assert type(tencent.translate(TencentCloudSDKException(code, "…"))) is error


def test_tencent_network_errors_tell_never_sent_from_maybe_sent() -> None:
    assert isinstance(tencent.translate(_raised_in(requests.ConnectionError(_refused()), "ClientNetworkError")),
                      ProviderDown)
    assert isinstance(tencent.translate(_raised_in(requests.ReadTimeout("timed out"), "ClientNetworkError")),
                      SubmitUncertain)


def test_never_sent_only_for_connections_never_made() -> None:
    assert never_sent(requests.ConnectTimeout("connect timed out"))
    assert never_sent(requests.ConnectionError(_refused()))
    assert not never_sent(requests.ConnectionError("Connection aborted: RemoteDisconnected"))
    assert not never_sent(requests.ReadTimeout("read timed out"))


@pytest.mark.parametrize(("code", "failure"), [
    ("MK:0005", DeliveryFailure.SWITCHED_OFF), ("MN:0001", DeliveryFailure.INVALID_NUMBER),
    ("MN:0099", DeliveryFailure.INVALID_NUMBER), ("DB:0141", DeliveryFailure.BLACKLISTED),
    ("EXPIRED", DeliveryFailure.EXPIRED), ("REJECTD", DeliveryFailure.REJECTED), ("UNDELIV", DeliveryFailure.OTHER),
    ("XX:1234", DeliveryFailure.OTHER), ("IC:0151", DeliveryFailure.THROTTLED),
])
def test_carrier_codes(code: str, failure: DeliveryFailure) -> None:
    assert carrier_failure(code) is failure


def test_pushes_are_parsed_in_the_providers_shapes() -> None:
    [report] = parse_reports([{"phone_number": "13900000001", "success": False, "err_code": "MK:0005",
                               "biz_id": "9^0", "out_id": "leg"}])
    assert (report.ref, report.delivered, report.failure, report.leg_id) == ("9^0", False,
                                                                            DeliveryFailure.SWITCHED_OFF, "leg")
    [ok] = parse_reports([{"success": True, "err_code": "DELIVERED", "biz_id": "8^0"}])
    assert ok.delivered and ok.failure is None
    [reply] = parse_replies([{"phone_number": "13900000001", "content": "到", "sequence_id": 5}])
    assert (reply.sender, reply.body, reply.key) == ("13900000001", "到", "aliyun:5")
    [status] = tencent_reports([{"report_status": "FAIL", "errmsg": "MN:0001", "sid": "2645:1", "mobile": "1"}])
    assert (status.ref, status.failure) == ("2645:1", DeliveryFailure.INVALID_NUMBER)
    [answer] = parse_reply({"mobile": "13900000001", "nationcode": "86", "text": "1", "time": 10})
    assert answer.sender == "+8613900000001"
    with pytest.raises(ValueError):
        parse_reports({"not": "a list"})
    with pytest.raises(ValueError):
        parse_reply(["not", "an object"])


# -- the ledger ----------------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.outcomes: list[tuple[str, LegStatus, str, str]] = []

    def leg_outcome(self, leg_id: str, status: LegStatus, detail: str = "", provider_ref: str = "") -> None:
        self.outcomes.append((leg_id, status, detail, provider_ref))


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def _ledger() -> tuple[ReportLedger, Sink, Clock]:
    sink, clock = Sink(), Clock()
    return ReportLedger("aliyun", sink, clock, park_seconds=30.0), sink, clock


def _sent(ref: str, leg: str, at: float = 1000.0) -> Submission:
    return Submission(ref, leg, "+8613900000001", at, datetime.now(UTC))


def test_a_report_settles_its_leg_once_and_a_replay_is_refused() -> None:
    ledger, sink, _ = _ledger()
    ledger.submitted(_sent("9^0", "leg-1"))
    failed = DeliveryReport("9^0", False, DeliveryFailure.SWITCHED_OFF, "MK:0005", leg_id="leg-1")
    assert ledger.settle(failed) == Settled.RECORDED
    assert ledger.settle(failed) == Settled.REPLAY
    assert sink.outcomes == [("leg-1", LegStatus.UNDELIVERED, "undelivered: switched_off (MK:0005)", "aliyun:9^0")]


def test_a_forged_report_never_reaches_a_leg() -> None:
    ledger, sink, _ = _ledger()
    ledger.submitted(_sent("9^0", "leg-1"))
    assert ledger.settle(DeliveryReport("9^0", True, None, "DELIVERED", leg_id="leg-2")) == Settled.MISMATCH
    assert ledger.settle(DeliveryReport("1^0", True, None, "DELIVERED", leg_id="leg-1")) == Settled.PARKED
    assert ledger.settle(DeliveryReport("", True, None, "DELIVERED", leg_id="leg-1")) == Settled.PARKED
    assert sink.outcomes == []


def test_a_report_before_its_send_returned_waits_for_it() -> None:
    ledger, sink, _ = _ledger()
    assert ledger.settle(DeliveryReport("9^0", True, None, "DELIVERED")) == Settled.PARKED
    ledger.submitted(_sent("9^0", "leg-1"))
    assert [o[:2] for o in sink.outcomes] == [("leg-1", LegStatus.DELIVERED)]


def test_an_uncertain_send_is_settled_by_our_leg_id() -> None:
    ledger, sink, _ = _ledger()
    ledger.submitted(_sent("unknown:leg-1", "leg-1"))
    assert ledger.settle(DeliveryReport("", True, None, "DELIVERED", leg_id="leg-1")) == Settled.RECORDED
    assert sink.outcomes == [("leg-1", LegStatus.DELIVERED, "aliyun DELIVERED", "aliyun:unknown:leg-1")]


def test_silence_and_the_window() -> None:
    ledger, sink, clock = _ledger()
    ledger.submitted(_sent("9^0", "leg-1", at=clock.now))
    clock.now += 119
    assert not ledger.silent(120)
    clock.now += 2
    assert ledger.silent(120) and [s.leg_id for s in ledger.waiting(60)] == ["leg-1"]
    ledger.submitted(_sent("8^0", "leg-2", at=clock.now))
    ledger.settle(DeliveryReport("8^0", True, None, "DELIVERED"))
    assert not ledger.silent(120)  # a report just came: the provider reports
    clock.now += 72 * 3600
    assert ledger.expire() == 1
    assert sink.outcomes[-1][:3] == ("leg-1", LegStatus.UNDELIVERED, "undelivered: unknown")
    assert ledger.waiting() == []


def test_health_goes_down_after_a_failed_send_or_repeated_throttling_and_comes_back() -> None:
    clock = Clock()
    health = PathHealth(30, clock, throttles_before_down=3)
    health.throttled("a")
    health.throttled("b")
    assert health.is_healthy()
    health.throttled("c")
    assert not health.is_healthy()
    clock.now += 30
    assert health.is_healthy()
    health.failed("503")
    assert not health.is_healthy()
    health.succeeded()
    assert health.is_healthy()


def _refused() -> NewConnectionError:
    return NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")


def _unretryable(cause: Exception) -> UnretryableException:
    """As darabonba wraps a requests error: a RetryError raised while handling it, in an UnretryableException."""
    try:
        try:
            raise cause
        except OSError as exc:
            raise RetryError(str(exc))  # noqa: B904 — the SDK's way: the cause stays its __context__
    except RetryError as wrapped:
        return UnretryableException(RetryPolicyContext(retries_attempted=1, exception=wrapped))


def _raised_in(cause: Exception, code: str) -> TencentCloudSDKException:
    """As the Tencent SDK wraps a requests error: its exception raised while handling it."""
    try:
        try:
            raise cause
        except Exception as exc:
            raise TencentCloudSDKException(code, str(exc))  # noqa: B904 — as the SDK does
    except TencentCloudSDKException as wrapped:
        return wrapped

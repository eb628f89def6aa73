"""Aliyun's answers translated, at the boundary, into the channel error tree and delivery failures.

SendSms answers HTTP 200 with ``Code`` "OK", or with a business code (``isv.…``) for a refused
message; the API gateway answers 4xx/5xx with its own codes (signature, key, throttling, service).

    Code OK                                             → accepted (BizId is the message id)
    isv.BUSINESS_LIMIT_CONTROL, isv.DAY_LIMIT_CONTROL,
    Throttling*, HTTP 429 / ThrottlingException         → RateLimited
    isv.AMOUNT_NOT_ENOUGH, isv.OUT_OF_SERVICE, isv.ACCOUNT_*,
    isp.*, InvalidAccessKeyId*, SignatureDoesNotMatch,
    Forbidden*, InvalidTimeStamp*, HTTP 5xx              → ProviderDown (nothing this account sends gets through)
    any other isv.* / 4xx (MOBILE_NUMBER_ILLEGAL,
    BLACK_KEY_CONTROL_LIMIT, SMS_TEMPLATE_ILLEGAL, …)    → ProviderRefused (this message)
    no connection made (refused, connect timeout)        → ProviderDown
    no answer after the request went out                 → SubmitUncertain (never resent elsewhere)

Delivery reports (SmsReport push, QuerySendDetails): ``DELIVERED`` is delivered; any other err_code
is the carrier's code (callcenter.channels.carrier_codes).
"""

from __future__ import annotations

from alibabacloud_tea_openapi.exceptions import AlibabaCloudException, ThrottlingException

from callcenter.channels.carrier_codes import DELIVERED_CODES, carrier_failure
from callcenter.channels.delivery import DeliveryFailure
from callcenter.channels.errors import ProviderDown, ProviderError, ProviderRefused, RateLimited
from callcenter.channels.http_errors import never_sent
from callcenter.channels.template_sms import SubmitUncertain

__all__ = ["OK", "answer_error", "report_failure", "translate"]

OK = "OK"
_THROTTLED = ("isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "Throttling")
_PATH_DOWN = ("isv.AMOUNT_NOT_ENOUGH", "isv.OUT_OF_SERVICE", "isv.ACCOUNT_", "isp.", "InvalidAccessKeyId",
              "SignatureDoesNotMatch", "Forbidden", "InvalidTimeStamp", "SignatureNonceUsed", "ServiceUnavailable",
              "InternalError")


def answer_error(code: str, message: str, status: int = 200) -> ProviderError:
    """Our error for an answer with ``code`` other than OK."""
    what = f"Aliyun {code}: {message}"
    if code.startswith(_THROTTLED) or status == 429:
        return RateLimited(what)
    if code.startswith(_PATH_DOWN) or status >= 500:
        return ProviderDown(what)
    return ProviderRefused(what)


def translate(exc: Exception) -> ProviderError | SubmitUncertain:
    """Our error for an exception of the Aliyun SDK (or of the HTTP stack below it)."""
    if isinstance(exc, (ProviderError, SubmitUncertain)):
        return exc
    if isinstance(exc, ThrottlingException):
        return RateLimited(f"Aliyun throttling {exc.code}: {exc.message}")
    if isinstance(exc, AlibabaCloudException) and getattr(exc, "status_code", None):
        return answer_error(str(exc.code), str(exc.message), int(exc.status_code))
    if never_sent(exc):
        return ProviderDown(f"Aliyun unreachable: {exc}")
    return SubmitUncertain(f"Aliyun did not answer: {exc}")


def report_failure(code: str) -> DeliveryFailure | None:
    """None for a delivered report, else why not."""
    return None if code.strip() in DELIVERED_CODES else carrier_failure(code)

"""Tencent Cloud's answers translated, at the boundary, into the channel error tree and delivery failures.

SendSms answers either an ``Error`` for the whole request (the SDK raises TencentCloudSDKException
with its code) or a ``SendStatusSet`` with a ``Code`` per number ("Ok" when accepted).

    Ok                                                  → accepted (SerialNo is the message id)
    LimitExceeded.*, RequestLimitExceeded               → RateLimited
    AuthFailure.*, InternalError*, ServerNetworkError,
    FailedOperation.InsufficientBalanceInSmsPackage,
    FailedOperation.SignatureIncorrectOrUnapproved,
    UnauthorizedOperation.*                             → ProviderDown (nothing this account sends gets through)
    any other code (InvalidParameterValue.IncorrectPhoneNumber,
    FailedOperation.PhoneNumberInBlacklist,
    FailedOperation.TemplateParamSetNotMatchApprovedTemplate, …) → ProviderRefused (this message)
    ClientNetworkError, no connection made              → ProviderDown
    ClientNetworkError after the request went out       → SubmitUncertain (never resent elsewhere)

Status reports (callback and PullSmsSendStatus): ``SUCCESS`` is delivered; for ``FAIL`` the carrier's
code (errmsg / Description, e.g. MK:0005) says why (callcenter.channels.carrier_codes).
"""

from __future__ import annotations

from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from callcenter.channels.carrier_codes import carrier_failure
from callcenter.channels.delivery import DeliveryFailure
from callcenter.channels.errors import ProviderDown, ProviderError, ProviderRefused, RateLimited
from callcenter.channels.http_errors import never_sent
from callcenter.channels.template_sms import SubmitUncertain

__all__ = ["OK", "SUCCESS", "answer_error", "report_failure", "translate"]

OK = "Ok"
SUCCESS = "SUCCESS"
_THROTTLED = ("LimitExceeded", "RequestLimitExceeded")
_PATH_DOWN = ("AuthFailure", "InternalError", "ServerNetworkError", "UnauthorizedOperation",
              "FailedOperation.InsufficientBalanceInSmsPackage", "FailedOperation.SignatureIncorrectOrUnapproved")
NETWORK = "ClientNetworkError"


def answer_error(code: str, message: str) -> ProviderError:
    what = f"Tencent {code}: {message}"
    if code.startswith(_THROTTLED):
        return RateLimited(what)
    if code.startswith(_PATH_DOWN):
        return ProviderDown(what)
    return ProviderRefused(what)


def translate(exc: Exception) -> ProviderError | SubmitUncertain:
    """Our error for an exception of the Tencent Cloud SDK (or of the HTTP stack below it)."""
    if isinstance(exc, (ProviderError, SubmitUncertain)):
        return exc
    if isinstance(exc, TencentCloudSDKException) and exc.get_code() != NETWORK:
        return answer_error(str(exc.get_code()), str(exc.get_message()))
    if never_sent(exc):
        return ProviderDown(f"Tencent unreachable: {exc}")
    return SubmitUncertain(f"Tencent did not answer: {exc}")


def report_failure(status: str, code: str) -> DeliveryFailure | None:
    """None for a delivered report, else why not."""
    return None if status == SUCCESS else carrier_failure(code)

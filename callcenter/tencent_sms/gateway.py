"""The official Tencent Cloud SMS SDK (tencentcloud-sdk-python-sms, 2021-01-11) behind the SmsGateway port.

SendSms with our leg id as ``SessionContext`` (Tencent hands it back in PullSmsSendStatus: a send
whose answer never came can still be found), PullSmsSendStatus and PullSmsReplyStatus as the fallback
polls. The SDK signs each request with TC3-HMAC-SHA256; ``endpoint``/``protocol`` point it at a local
emulator in tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tencentcloud.common.credential import Credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models
from tencentcloud.sms.v20210111.sms_client import SmsClient

from callcenter.channels.sms_ledger import DeliveryReport, Submission
from callcenter.channels.template_sms import InboundReply
from callcenter.domain.sms_templates import FittedSms
from callcenter.tencent_sms.errors import OK, answer_error, report_failure, translate
from callcenter.tencent_sms.push import reply_key

__all__ = ["TencentGateway", "make_client"]

PULL_LIMIT = 100
DEFAULT_ENDPOINT = "sms.tencentcloudapi.com"


def make_client(secret_id: str, secret_key: str, region: str, endpoint: str = "", protocol: str = "https",
                timeout_seconds: float = 3.0) -> SmsClient:
    http = HttpProfile(protocol=protocol, endpoint=endpoint or DEFAULT_ENDPOINT, reqTimeout=timeout_seconds)
    return SmsClient(Credential(secret_id, secret_key), region, ClientProfile(httpProfile=http))


class TencentGateway:
    def __init__(self, client: SmsClient, sdk_app_id: str, provider: str = "tencent") -> None:
        self.client, self.sdk_app_id, self.provider = client, sdk_app_id, provider

    def submit(self, phone: str, fitted: FittedSms, leg_id: str) -> str:
        request = models.SendSmsRequest()
        request.PhoneNumberSet, request.SmsSdkAppId, request.TemplateId = [phone], self.sdk_app_id, fitted.code
        request.SignName, request.TemplateParamSet = fitted.signature, fitted.param_values()
        request.SessionContext = leg_id
        status = self._call(self.client.SendSms, request).SendStatusSet[0]
        if status.Code != OK:
            raise answer_error(str(status.Code), str(status.Message))
        return str(status.SerialNo)

    def query(self, waiting: Sequence[Submission]) -> list[DeliveryReport]:
        request = models.PullSmsSendStatusRequest()
        request.Limit, request.SmsSdkAppId = PULL_LIMIT, self.sdk_app_id
        found = self._call(self.client.PullSmsSendStatus, request).PullSmsSendStatusSet or []
        return [_pulled_report(item) for item in found]

    def pull_replies(self) -> list[InboundReply]:
        request = models.PullSmsReplyStatusRequest()
        request.Limit, request.SmsSdkAppId = PULL_LIMIT, self.sdk_app_id
        found = self._call(self.client.PullSmsReplyStatus, request).PullSmsReplyStatusSet or []
        return [InboundReply(str(item.PhoneNumber), str(item.ReplyContent),
                             reply_key(str(item.CountryCode), str(item.SubscriberNumber), item.ReplyTime,
                                       str(item.ReplyContent)))
                for item in found]

    @staticmethod
    def _call(method: Any, request: Any) -> Any:
        try:
            return method(request)
        except Exception as exc:  # translated at the boundary: callers see only our errors
            raise translate(exc) from exc


def _pulled_report(item: Any) -> DeliveryReport:
    status, code = str(item.ReportStatus or ""), str(item.Description or "")
    failure = report_failure(status, code)
    return DeliveryReport(str(item.SerialNo), failure is None, failure, code or status,
                          leg_id=str(item.SessionContext or ""))

"""The official Aliyun SMS SDK (alibabacloud-dysmsapi20170525) behind the SmsGateway port.

SendSms with our leg id as ``OutId`` (Aliyun returns it in every report: a report can be checked
against the leg we sent it for, and a send whose answer never came can still be found), and
QuerySendDetails as the fallback poll. The SDK signs each request with ACS3-HMAC-SHA256 (its
default since alibabacloud-tea-openapi 0.3); ``endpoint`` and ``protocol`` point it at a local
emulator in tests. SendBatchSms is not used: it takes no OutId per number, and the alert legs of one
incident are sent one by one as the engine hands them over anyway.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from alibabacloud_dysmsapi20170525 import models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.runtime import RuntimeOptions

from callcenter.aliyun_sms.errors import OK, answer_error, report_failure, translate
from callcenter.channels.sms_ledger import DeliveryReport, Submission
from callcenter.channels.template_sms import InboundReply
from callcenter.domain.sms_templates import FittedSms

__all__ = ["AliyunGateway", "make_client", "national"]

log = logging.getLogger(__name__)
CHINA = ZoneInfo("Asia/Shanghai")  # QuerySendDetails' SendDate is Beijing's date
QUERIES_PER_POLL = 50  # QuerySendDetails is rate limited per account: the oldest first, the rest next time
_WAITING, _FAILED = 1, 2  # SendStatus: 1 waiting for the receipt, 2 failed, 3 delivered


def make_client(access_key_id: str, access_key_secret: str, region: str, endpoint: str = "",
                protocol: str = "https", timeout_seconds: float = 3.0) -> Client:
    millis = int(timeout_seconds * 1000)
    config = Config(access_key_id=access_key_id, access_key_secret=access_key_secret, region_id=region,
                    endpoint=endpoint or None, protocol=protocol, read_timeout=millis, connect_timeout=millis)
    return Client(config)


def national(phone: str) -> str:
    """Aliyun's number: 11 digits for a mainland mobile, 00 and the country code otherwise."""
    return phone[3:] if phone.startswith("+86") else "00" + phone.lstrip("+")


class AliyunGateway:
    def __init__(self, client: Client, provider: str = "aliyun") -> None:
        self.client, self.provider = client, provider

    def submit(self, phone: str, fitted: FittedSms, leg_id: str) -> str:
        request = models.SendSmsRequest(phone_numbers=national(phone), sign_name=fitted.signature,
                                        template_code=fitted.code, out_id=leg_id,
                                        template_param=json.dumps(fitted.params_dict(), ensure_ascii=False))
        body = self._call(self.client.send_sms_with_options, request).body
        if body.code != OK:
            raise answer_error(str(body.code), str(body.message))
        return str(body.biz_id)

    def query(self, waiting: Sequence[Submission]) -> list[DeliveryReport]:
        reports: list[DeliveryReport] = []
        for submission in waiting[:QUERIES_PER_POLL]:
            reports += self._details(submission)
        return reports

    def _details(self, submission: Submission) -> list[DeliveryReport]:
        request = models.QuerySendDetailsRequest(
            phone_number=national(submission.phone), biz_id=None if submission.uncertain else submission.ref,
            send_date=submission.sent_at.astimezone(CHINA).strftime("%Y%m%d"), page_size=50, current_page=1)
        body = self._call(self.client.query_send_details_with_options, request).body
        if body.code != OK:
            log.warning("aliyun QuerySendDetails for leg %s: %s %s", submission.leg_id, body.code, body.message)
            return []
        found = body.sms_send_detail_dtos.sms_send_detail_dto if body.sms_send_detail_dtos else []
        return [_detail_report(submission, dto) for dto in found or []
                if dto.send_status != _WAITING and dto.out_id == submission.leg_id]

    def pull_replies(self) -> list[InboundReply]:
        return []  # Aliyun pushes replies (SmsUp) and has no API to fetch them

    @staticmethod
    def _call(method: Any, request: Any) -> Any:
        try:
            return method(request, RuntimeOptions(autoretry=False))
        except Exception as exc:  # translated at the boundary: callers see only our errors
            raise translate(exc) from exc


def _detail_report(submission: Submission, dto: Any) -> DeliveryReport:
    code = str(dto.err_code or "")
    delivered = dto.send_status != _FAILED and report_failure(code) is None
    return DeliveryReport("" if submission.uncertain else submission.ref, delivered,
                          None if delivered else report_failure(code), code, leg_id=str(dto.out_id or ""))


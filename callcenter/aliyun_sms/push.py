"""Aliyun's HTTP pushes (批量推送模式) parsed: SmsReport (delivery reports) and SmsUp (replies).

Both are a JSON array of objects; Aliyun expects ``{"code": 0, "msg": "成功"}`` back, and pushes again
otherwise. Aliyun signs neither: callcenter.channels.sms_push authenticates them (token path, sources).

    SmsReport: phone_number, send_time, report_time, success, err_code, err_msg, sms_size, biz_id, out_id
    SmsUp:     phone_number, send_time, content, sign_name, dest_code, sequence_id
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from callcenter.aliyun_sms.errors import report_failure
from callcenter.channels.delivery import DeliveryFailure
from callcenter.channels.sms_ledger import DeliveryReport
from callcenter.channels.template_sms import InboundReply

__all__ = ["RECEIVED", "parse_replies", "parse_reports"]

RECEIVED: Mapping[str, Any] = {"code": 0, "msg": "成功"}


def _items(body: Any) -> list[Mapping[str, Any]]:
    if not isinstance(body, list) or not all(isinstance(item, Mapping) for item in body):
        raise ValueError("expected a JSON array of objects")
    return body


def parse_reports(body: Any) -> list[DeliveryReport]:
    return [_report(item) for item in _items(body)]


def _report(item: Mapping[str, Any]) -> DeliveryReport:
    biz_id, code = str(item["biz_id"]), str(item.get("err_code") or "")
    delivered = item.get("success") is True and report_failure(code) is None
    failure = None if delivered else (report_failure(code) or DeliveryFailure.OTHER)
    return DeliveryReport(biz_id, delivered, failure, code, leg_id=str(item.get("out_id") or ""))


def parse_replies(body: Any) -> list[InboundReply]:
    return [InboundReply(str(item["phone_number"]), str(item["content"]), f"aliyun:{item['sequence_id']}")
            for item in _items(body)]

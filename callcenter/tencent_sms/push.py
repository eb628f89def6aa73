"""Tencent Cloud's HTTP callbacks parsed: status reports (短信下发状态) and replies (短信回复).

Tencent expects ``{"result": 0, "errmsg": "OK"}`` back. It signs neither callback:
callcenter.channels.sms_push authenticates them (token path, sources).

    status: a JSON array of {user_receive_time, nationcode, mobile, report_status, errmsg, description, sid}
    reply:  a JSON object {extend, mobile, nationcode, sign, text, time}
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from callcenter.channels.sms_ledger import DeliveryReport
from callcenter.channels.template_sms import InboundReply
from callcenter.tencent_sms.errors import report_failure

__all__ = ["RECEIVED", "parse_reply", "parse_reports", "reply_key"]

RECEIVED: Mapping[str, Any] = {"result": 0, "errmsg": "OK"}


def reply_key(country: str, number: str, unix_time: object, text: str) -> str:
    """The same reply pushed and pulled has the same key."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"tencent:{country}{number}:{unix_time}:{digest}"


def parse_reports(body: Any) -> list[DeliveryReport]:
    if not isinstance(body, list) or not all(isinstance(item, Mapping) for item in body):
        raise ValueError("expected a JSON array of status objects")
    return [_report(item) for item in body]


def _report(item: Mapping[str, Any]) -> DeliveryReport:
    status, code = str(item["report_status"]), str(item.get("errmsg") or "")
    failure = report_failure(status, code)
    return DeliveryReport(str(item["sid"]), failure is None, failure, code or status)


def parse_reply(body: Any) -> list[InboundReply]:
    if not isinstance(body, Mapping):
        raise ValueError("expected a JSON reply object")
    country, number, text = str(body.get("nationcode") or "86"), str(body["mobile"]), str(body["text"])
    return [InboundReply(f"+{country}{number}", text, reply_key(country, number, body.get("time"), text))]

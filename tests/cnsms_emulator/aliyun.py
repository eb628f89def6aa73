"""A local stand-in for Aliyun SMS (dysmsapi 2017-05-25), as the official SDK calls it.

Every request must carry a valid ACS3-HMAC-SHA256 signature (the SDK's default: the canonical request of
method, path, sorted query, the signed headers and the body's SHA-256, HMAC'd with the AccessKey
secret) and a fresh x-acs-date and nonce; otherwise it answers as Aliyun does (HTTP 404
InvalidAccessKeyId.NotFound, 400 SignatureDoesNotMatch, 400 InvalidTimeStamp.Expired, 400
SignatureNonceUsed). Actions: SendSms (rendering the approved template under the approved signature,
with Aliyun's business codes: isv.MOBILE_NUMBER_ILLEGAL, isv.BLACK_KEY_CONTROL_LIMIT,
isv.BUSINESS_LIMIT_CONTROL, isv.SMS_TEMPLATE_ILLEGAL, isv.SMS_SIGNATURE_ILLEGAL,
isv.TEMPLATE_MISSING_PARAMETERS, isv.PARAM_LENGTH_LIMIT) and QuerySendDetails. Delivery reports are
pushed to ``report_url`` (SmsReport) and replies to ``reply_url`` (SmsUp), in Aliyun's JSON shapes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from tests.cnsms_emulator.common import EmulatorBase, Message, _national

CHINA = timezone(timedelta(hours=8))
_VARIABLE = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_]*)\}")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
MAX_PARAM = 35


class AliyunEmulator(EmulatorBase):
    def __init__(self, sign_name: str, templates: Mapping[str, str], access_key_id: str = "LTAI5tEmulatorKey",
                 access_key_secret: str = "emulator-secret-" + "a" * 16, slow_seconds: float = 2.0,
                 step_seconds: float = 0.05) -> None:
        self.sign_name, self.templates = sign_name, dict(templates)
        self.access_key_id, self.access_key_secret = access_key_id, access_key_secret
        self._nonces: set[str] = set()
        self._sequence = 0
        super().__init__(slow_seconds, step_seconds)

    def __enter__(self) -> AliyunEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- our endpoints called the way Aliyun calls them -------------------------------------

    def inject_reply(self, phone: str, content: str, sequence_id: int | None = None) -> int:
        """An SmsUp push: ``phone`` texted ``content`` to our signature's number. Returns our HTTP status."""
        self._sequence += 1
        item = {"phone_number": _national(phone), "send_time": _now(), "content": content,
                "sign_name": self.sign_name, "dest_code": "", "sequence_id": sequence_id or self._sequence}
        return self.post(self.reply_url, [item]).status_code

    def push_report(self, message: Message) -> None:
        delivered = message.state == "delivered"
        item = {"phone_number": message.phone, "send_time": _time(message.sent_at), "report_time": _now(),
                "success": delivered, "err_code": "DELIVERED" if delivered else message.code,
                "err_msg": "用户接收成功" if delivered else "失败", "sms_size": "1", "biz_id": message.ref,
                "out_id": message.context}
        for _ in range(3):  # Aliyun pushes again until it is told {"code": 0}
            response = self.post(self.report_url, [item])
            if response.status_code == 200 and response.json().get("code") == 0:
                return

    # -- the API -----------------------------------------------------------------------------

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.api_route("/", methods=["GET", "POST"])
        async def api(request: Request) -> JSONResponse:
            body = await request.body()
            action = request.headers.get("x-acs-action", "")
            response = await run_in_threadpool(self._answer, request, body, action)
            self.record(action, response.status_code)
            if response.status_code >= 400:
                self.errors.append(json.loads(bytes(response.body))["Code"])
            return response

        return app

    def _answer(self, request: Request, body: bytes, action: str) -> JSONResponse:
        refused = self._authenticate(request, body)
        if refused is not None:
            return refused
        if self.take_failure():
            return _error(503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server.")
        query = dict(parse_qsl(request.url.query, keep_blank_values=True))
        if action == "SendSms":
            return self._send(query)
        if action == "QuerySendDetails":
            return self._details(query)
        return _error(404, "InvalidAction.NotFound", f"Specified api {action} is not found.")

    def _authenticate(self, request: Request, body: bytes) -> JSONResponse | None:
        auth = request.headers.get("authorization", "")
        found = re.fullmatch(r"ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]+)", auth)
        if found is None:
            return _error(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards.")
        key_id, signed, signature = found.groups()
        if key_id != self.access_key_id:
            return _error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if request.headers.get("x-acs-content-sha256") != hashlib.sha256(body).hexdigest():
            return _error(400, "SignatureDoesNotMatch", "The request body does not match its x-acs-content-sha256.")
        expected = hmac.new(self.access_key_secret.encode(), _string_to_sign(request, signed).encode(),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature) or "x-acs-date" not in signed.split(";"):
            return _error(400, "SignatureDoesNotMatch", "Specified signature does not match our calculation.")
        return self._fresh(request)

    def _fresh(self, request: Request) -> JSONResponse | None:
        try:
            stamp = datetime.strptime(request.headers.get("x-acs-date", ""), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return _error(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
        if abs((datetime.now(UTC) - stamp).total_seconds()) > 900:
            return _error(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
        nonce = request.headers.get("x-acs-signature-nonce", "")
        if not nonce or nonce in self._nonces:
            return _error(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self._nonces.add(nonce)
        return None

    def _send(self, query: Mapping[str, str]) -> JSONResponse:
        phone, code = query.get("PhoneNumbers", ""), query.get("TemplateCode", "")
        refusal = self._refusal(phone, query.get("SignName", ""), code, query.get("TemplateParam", "{}"))
        if refusal is not None:
            return _ok({"Code": refusal[0], "Message": refusal[1]})
        params = json.loads(query.get("TemplateParam", "{}"))
        text = f"【{self.sign_name}】" + _VARIABLE.sub(lambda m: str(params[m.group(1)]), self.templates[code])
        outcome = self.next_outcome(phone)
        message = Message(f"{900000 + self.new_id()}^0", phone, text, code, params, query.get("OutId", ""),
                          time.monotonic(), time.time(), outcome)
        self.accept(message, self.push_report)
        if outcome == "slow":
            time.sleep(self.slow_seconds)  # past the SDK's read timeout: it never hears that we took it
        return _ok({"Code": "OK", "Message": "OK", "BizId": message.ref})

    def _refusal(self, phone: str, sign: str, code: str, raw_params: str) -> tuple[str, str] | None:
        if not _MOBILE.match(phone):
            return "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"
        if sign != self.sign_name:
            return "isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名"
        if code not in self.templates:
            return "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板"
        try:
            params = json.loads(raw_params)
        except ValueError:
            return "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值"
        if set(params) != set(_VARIABLE.findall(self.templates[code])):
            return "isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值"
        if any(len(str(value)) > MAX_PARAM for value in params.values()):
            return "isv.PARAM_LENGTH_LIMIT", "参数超出长度限制"
        if phone in self.knobs.blacklisted:
            return "isv.BLACK_KEY_CONTROL_LIMIT", "黑名单管控"
        if self.knobs.throttle_all or phone in self.knobs.throttled:
            return "isv.BUSINESS_LIMIT_CONTROL", "触发号码天级流控Permits:10"
        return None

    def _details(self, query: Mapping[str, str]) -> JSONResponse:
        phone, biz_id, date = query.get("PhoneNumber", ""), query.get("BizId", ""), query.get("SendDate", "")
        found = [m for m in self.sent_to(phone) if (not biz_id or m.ref == biz_id)
                 and datetime.fromtimestamp(m.sent_at, CHINA).strftime("%Y%m%d") == date]
        dtos = [{"ErrCode": {"delivered": "DELIVERED", "failed": m.code}.get(m.state, ""), "TemplateCode": m.template,
                 "OutId": m.context, "ReceiveDate": _now() if m.state != "waiting" else "",
                 "SendDate": _time(m.sent_at), "PhoneNum": m.phone, "Content": m.text,
                 "SendStatus": {"waiting": 1, "failed": 2, "delivered": 3}[m.state]} for m in found]
        return _ok({"Code": "OK", "Message": "OK", "TotalCount": len(dtos),
                    "SmsSendDetailDTOs": {"SmsSendDetailDTO": dtos}})


def _string_to_sign(request: Request, signed: str) -> str:
    query = dict(parse_qsl(request.url.query, keep_blank_values=True))
    canonical_query = "&".join(f"{k}={quote(query[k], safe='~')}" for k in sorted(query))
    names = signed.split(";")
    headers = "".join(f"{name}:{request.headers.get(name, '').strip()}\n" for name in names)
    canonical = "\n".join([request.method, request.url.path or "/", canonical_query, headers, signed,
                           request.headers.get("x-acs-content-sha256", "")])
    return "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()


def _ok(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse({**body, "RequestId": str(uuid.uuid4()).upper()})


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"RequestId": str(uuid.uuid4()).upper(), "HostId": "dysmsapi.aliyuncs.com", "Code": code,
                         "Message": message}, status_code=status)


def _time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, CHINA).strftime("%Y-%m-%d %H:%M:%S")


def _now() -> str:
    return _time(time.time())

"""A local stand-in for Tencent Cloud SMS (API 2021-01-11), as the official SDK calls it.

Every request must carry a valid TC3-HMAC-SHA256 signature (the canonical request of method, path,
content-type and host headers and the body's SHA-256; the string to sign with X-TC-Timestamp and the
credential scope date/sms/tc3_request; the key derived from "TC3"+SecretKey through the date, the
service and "tc3_request"), a known SecretId and a timestamp within 5 minutes; otherwise the answer is
Tencent's ``Response.Error`` (AuthFailure.SignatureFailure, AuthFailure.SecretIdNotFound,
AuthFailure.SignatureExpire). Actions: SendSms (request errors FailedOperation.TemplateIncorrectOrUnapproved,
FailedOperation.TemplateParamSetNotMatchApprovedTemplate, FailedOperation.SignatureIncorrectOrUnapproved,
UnauthorizedOperation.SmsSdkAppIdVerifyFail; per-number codes InvalidParameterValue.IncorrectPhoneNumber,
FailedOperation.PhoneNumberInBlacklist, LimitExceeded.PhoneNumberDailyLimit), PullSmsSendStatus and
PullSmsReplyStatus (each item returned once). Status reports are pushed to ``report_url`` and replies to
``reply_url`` in Tencent's callback shapes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from tests.cnsms_emulator.common import EmulatorBase, Message, _national

_VARIABLE = re.compile(r"\{([1-9][0-9]*)\}")
_MOBILE = re.compile(r"^\+861[3-9]\d{9}$")
_AUTH = re.compile(r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/sms/tc3_request, "
                   r"SignedHeaders=([a-z;-]+), Signature=([0-9a-f]{64})")


class TencentEmulator(EmulatorBase):
    def __init__(self, sign_name: str, templates: Mapping[str, str], sdk_app_id: str = "1400000995",
                 secret_id: str = "AKIDEmulator0000000000000000000000",
                 secret_key: str = "emulator-key-" + "k" * 19, slow_seconds: float = 2.0,
                 step_seconds: float = 0.05) -> None:
        self.sign_name, self.templates, self.sdk_app_id = sign_name, dict(templates), sdk_app_id
        self.secret_id, self.secret_key = secret_id, secret_key
        self._replies: list[dict[str, Any]] = []
        super().__init__(slow_seconds, step_seconds)

    def __enter__(self) -> TencentEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- our endpoints called the way Tencent calls them ------------------------------------

    def inject_reply(self, phone: str, text: str, at: int | None = None, push: bool = True) -> int:
        """``phone`` texted ``text``: pushed to the reply callback (and kept for PullSmsReplyStatus)."""
        reply = {"extend": "", "mobile": _national(phone), "nationcode": "86", "sign": self.sign_name,
                 "text": text, "time": at or int(time.time()), "pulled": False}
        self._replies.append(reply)
        if not push:
            return 0
        return self.post(self.reply_url, {k: v for k, v in reply.items() if k != "pulled"}).status_code

    def push_report(self, message: Message) -> None:
        delivered = message.state == "delivered"
        item = {"user_receive_time": _time(time.time()), "nationcode": "86", "mobile": message.phone,
                "report_status": "SUCCESS" if delivered else "FAIL",
                "errmsg": "DELIVRD" if delivered else message.code,
                "description": "用户短信送达成功" if delivered else "用户短信未送达", "sid": message.ref}
        self.post(self.report_url, [item])

    # -- the API -----------------------------------------------------------------------------

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/")
        async def api(request: Request) -> Response:
            body = await request.body()
            action = request.headers.get("x-tc-action", "")
            status, answer = await run_in_threadpool(self._answer, request, body, action)
            self.record(action, status)
            if "Error" in answer:
                self.errors.append(answer["Error"]["Code"])
            return Response(json.dumps({"Response": {**answer, "RequestId": str(uuid.uuid4())}}, ensure_ascii=False),
                            status_code=status, media_type="application/json")

        return app

    def _answer(self, request: Request, body: bytes, action: str) -> tuple[int, dict[str, Any]]:
        refused = self._authenticate(request, body)
        if refused is not None:
            return 200, refused
        if self.take_failure():
            return 503, _error("InternalError.BackendTimeout", "backend timeout")
        params = json.loads(body or b"{}")
        handler = {"SendSms": self._send, "PullSmsSendStatus": self._pull_status,
                   "PullSmsReplyStatus": self._pull_replies}.get(action)
        if handler is None:
            return 200, _error("InvalidAction", f"action {action} not found")
        return 200, handler(params)

    def _authenticate(self, request: Request, body: bytes) -> dict[str, Any] | None:
        found = _AUTH.fullmatch(request.headers.get("authorization", ""))
        if found is None:
            return _error("AuthFailure.InvalidAuthorization", "Authorization header is malformed")
        secret_id, date, signed, signature = found.groups()
        if secret_id != self.secret_id:
            return _error("AuthFailure.SecretIdNotFound", "The SecretId is not found")
        stamp = request.headers.get("x-tc-timestamp", "0")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
            return _error("AuthFailure.SignatureExpire", "Signature expired")
        if datetime.fromtimestamp(int(stamp), UTC).strftime("%Y-%m-%d") != date:
            return _error("AuthFailure.SignatureFailure", "The credential date is not the timestamp's")
        headers = "".join(f"{name}:{request.headers.get(name, '')}\n" for name in signed.split(";"))
        canonical = "\n".join(["POST", request.url.path, request.url.query, headers, signed,
                               hashlib.sha256(body).hexdigest()])
        to_sign = f"TC3-HMAC-SHA256\n{stamp}\n{date}/sms/tc3_request\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        if "host" not in signed.split(";") or not hmac.compare_digest(self._sign(date, to_sign), signature):
            return _error("AuthFailure.SignatureFailure", "The provided credentials could not be validated.")
        return None

    def _sign(self, date: str, to_sign: str) -> str:
        key = ("TC3" + self.secret_key).encode()
        for part in (date, "sms", "tc3_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()

    def _send(self, params: Mapping[str, Any]) -> dict[str, Any]:
        refusal = self._request_refusal(params)
        if refusal is not None:
            return refusal
        return {"SendStatusSet": [self._send_one(str(phone), params) for phone in params["PhoneNumberSet"]]}

    def _request_refusal(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        if str(params.get("SmsSdkAppId")) != self.sdk_app_id:
            return _error("UnauthorizedOperation.SmsSdkAppIdVerifyFail", "SmsSdkAppId verify fail")
        if params.get("SignName") != self.sign_name:
            return _error("FailedOperation.SignatureIncorrectOrUnapproved", "signature unapproved")
        template = self.templates.get(str(params.get("TemplateId")))
        if template is None:
            return _error("FailedOperation.TemplateIncorrectOrUnapproved", "template unapproved or not exist")
        if len(params.get("TemplateParamSet") or []) != len(_VARIABLE.findall(template)):
            return _error("FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
                          "the number of template parameters does not match the approved template")
        return None

    def _send_one(self, phone: str, params: Mapping[str, Any]) -> dict[str, Any]:
        national = _national(phone)
        code = self._number_refusal(phone, national)
        if code is not None:
            return {"SerialNo": "", "PhoneNumber": phone, "Fee": 0, "SessionContext": params.get("SessionContext", ""),
                    "Code": code, "Message": code, "IsoCode": "CN"}
        values = params["TemplateParamSet"]
        text = f"【{self.sign_name}】" + _VARIABLE.sub(lambda m: str(values[int(m.group(1)) - 1]),
                                                     self.templates[str(params["TemplateId"])])
        outcome = self.next_outcome(national)
        message = Message(f"2645:{10**20 + self.new_id()}", national, text, str(params["TemplateId"]), values,
                          str(params.get("SessionContext", "")), time.monotonic(), time.time(), outcome)
        self.accept(message, self.push_report)
        if outcome == "slow":
            time.sleep(self.slow_seconds)  # past the SDK's timeout: it never hears that we took it
        return {"SerialNo": message.ref, "PhoneNumber": phone, "Fee": 1, "SessionContext": message.context,
                "Code": "Ok", "Message": "send success", "IsoCode": "CN"}

    def _number_refusal(self, phone: str, national: str) -> str | None:
        if not _MOBILE.match(phone):
            return "InvalidParameterValue.IncorrectPhoneNumber"
        if national in self.knobs.blacklisted:
            return "FailedOperation.PhoneNumberInBlacklist"
        if self.knobs.throttle_all or national in self.knobs.throttled:
            return "LimitExceeded.PhoneNumberDailyLimit"
        return None

    def _pull_status(self, params: Mapping[str, Any]) -> dict[str, Any]:
        done = self.unpulled(lambda m: m.state != "waiting")[: int(params.get("Limit", 100))]
        return {"PullSmsSendStatusSet": [
            {"UserReceiveTime": int(time.time()), "CountryCode": "86", "SubscriberNumber": m.phone,
             "PhoneNumber": f"+86{m.phone}", "SerialNo": m.ref,
             "ReportStatus": "SUCCESS" if m.state == "delivered" else "FAIL",
             "Description": "DELIVRD" if m.state == "delivered" else m.code, "SessionContext": m.context}
            for m in done]}

    def _pull_replies(self, params: Mapping[str, Any]) -> dict[str, Any]:
        found = [r for r in self._replies if not r["pulled"]][: int(params.get("Limit", 100))]
        for reply in found:
            reply["pulled"] = True
        return {"PullSmsReplyStatusSet": [
            {"ExtendCode": r["extend"], "CountryCode": "86", "SubscriberNumber": r["mobile"],
             "PhoneNumber": f"+86{r['mobile']}", "SignName": r["sign"], "ReplyContent": r["text"],
             "ReplyTime": r["time"]} for r in found]}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"Error": {"Code": code, "Message": message}}


def _time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")

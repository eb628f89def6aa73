"""Twilio's webhooks over HTTP: signature check first, then TwilioWebhooks.

Every request must carry a valid ``X-Twilio-Signature`` for the URL Twilio was given (our public
base URL plus path and query) and its form fields. A bad or missing signature gets 403 and is
logged; nothing else happens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator, get_signature_algorithm

from callcenter.twilio.channels import WEBHOOK_PREFIX
from callcenter.twilio.webhooks import TwilioWebhooks

__all__ = ["SignatureCheck", "WebhookRoute", "signed_router", "twilio_router"]

log = logging.getLogger(__name__)
XML = "application/xml"
H = TypeVar("H")  # the handler object a router's webhooks call


@dataclass(frozen=True, slots=True)
class WebhookRoute(Generic[H]):
    """One signed webhook: its handler gets (hooks, query, form fields) and returns TwiML or nothing."""

    handler: Callable[[H, dict[str, str], dict[str, str]], str | None]
    summary: str
    query: tuple[str, ...] = ()  # required query parameters: we put them in the URL we gave Twilio
    optional_query: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()  # form fields read beyond TWILIO_FIELDS


# The form fields Twilio posts that we read; Twilio sends more, and every field is a string.
TWILIO_FIELDS = ("From", "To", "AccountSid", "CallSid", "MessageSid", "SmsSid", "Body", "Digits", "CallStatus",
                 "MessageStatus", "SmsStatus", "AnsweredBy", "ErrorCode", "SipResponseCode", "RecordingUrl",
                 "RecordingDuration")

_ROUTES: dict[str, WebhookRoute[TwilioWebhooks]] = {
    "/voice/alert": WebhookRoute(lambda h, q, p: h.voice.alert_call(q, p), "An alert call was answered: its script",
                                 ("leg", "facts")),
    "/voice/alert/next": WebhookRoute(lambda h, q, p: h.voice.alert_next(q, p), "The next turn of an alert call",
                                      ("leg", "facts", "state"), ("event",)),
    "/voice/status": WebhookRoute(lambda h, q, p: h.call_status(q["leg"], p), "Status callback of an alert call",
                                  ("leg",)),
    "/sms/status": WebhookRoute(lambda h, q, p: h.sms_status(q["leg"], p), "Status callback of an alert SMS",
                                ("leg",)),
    "/voice/inbound": WebhookRoute(lambda h, q, p: h.voice.inbound_call(p), "A call to our number: a key press"),
    "/voice/inbound/next": WebhookRoute(lambda h, q, p: h.voice.inbound_next(q, p),
                                        "The next turn of an inbound call", ("incident", "facts", "state"),
                                        ("event",)),
    "/sms/inbound": WebhookRoute(lambda h, q, p: h.inbound_sms(p), "An SMS to our number: a responder's reply"),
}


class SignatureCheck:
    def __init__(self, auth_token: str, public_base_url: str) -> None:
        self.validator = RequestValidator(auth_token)
        self.public_base_url = public_base_url.rstrip("/")

    def url_of(self, request: Request) -> str:
        query = request.url.query
        return self.public_base_url + request.url.path + (f"?{query}" if query else "")

    def valid(self, request: Request, params: Mapping[str, str]) -> bool:
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature:
            return False
        algorithm = get_signature_algorithm(request.headers.get("X-Twilio-Webhooks-Signature-Settings", ""))
        return bool(self.validator.validate(self.url_of(request), dict(params), signature, algorithm))


def twilio_router(hooks: Callable[[], TwilioWebhooks], check: SignatureCheck) -> APIRouter:
    """The alert and inbound webhooks under /twilio; ``hooks`` gives the handler once the engine is built."""
    return signed_router(WEBHOOK_PREFIX, _ROUTES, hooks, check)


def signed_router(prefix: str, routes: Mapping[str, WebhookRoute[H]], hooks: Callable[[], H],
                  check: SignatureCheck) -> APIRouter:
    """POST webhooks under ``prefix``, each answering 403 unless Twilio's signature is valid."""
    router = APIRouter(prefix=prefix, tags=["twilio"])
    for path, route in routes.items():
        router.add_api_route(path, _endpoint(route, hooks, check), methods=["POST"], summary=route.summary,
                             response_class=Response, openapi_extra=_openapi(route),
                             responses={403: {"description": "Missing or invalid Twilio signature"}})
    return router


def _openapi(route: WebhookRoute[H]) -> dict[str, object]:
    """The form body and query the endpoint reads itself, declared so that clients and fuzzers know them."""
    query = [{"name": name, "in": "query", "required": required, "schema": {"type": "string"}}
             for names, required in ((route.query, True), (route.optional_query, False)) for name in names]
    form = {"type": "object", "properties": {name: {"type": "string"} for name in TWILIO_FIELDS + route.fields},
            "additionalProperties": {"type": "string"}}
    return {"parameters": query,
            "requestBody": {"required": False, "content": {"application/x-www-form-urlencoded": {"schema": form}}}}


def _endpoint(route: WebhookRoute[H], hooks: Callable[[], H], check: SignatureCheck) -> Callable[..., object]:
    async def endpoint(request: Request) -> Response:
        params = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        if not check.valid(request, params):
            log.warning("twilio webhook %s refused: bad or missing signature (from %s)", request.url.path,
                        request.client.host if request.client else "?")
            raise HTTPException(403, "invalid Twilio signature")
        query = dict(request.query_params)
        try:
            body = await run_in_threadpool(route.handler, hooks(), query, params)
        except KeyError as exc:
            raise HTTPException(400, f"missing parameter {exc}") from None
        except ValueError as exc:  # a signed URL we never made (a flow token from another version)
            raise HTTPException(400, str(exc)) from None
        return Response(body or "", media_type=XML if body else None, status_code=200 if body else 204)
    return endpoint

"""Twilio's webhooks over HTTP: signature check first, then TwilioWebhooks.

Every request must carry a valid ``X-Twilio-Signature`` for the URL Twilio was given (our public
base URL plus path and query) and its form fields. A bad or missing signature gets 403 and is
logged; nothing else happens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator, get_signature_algorithm

from callcenter.twilio.channels import WEBHOOK_PREFIX
from callcenter.twilio.webhooks import TwilioWebhooks

log = logging.getLogger(__name__)
XML = "application/xml"

_Handler = Callable[[TwilioWebhooks, dict[str, str], dict[str, str]], str | None]

_ROUTES: dict[str, _Handler] = {
    "/voice/alert": lambda h, q, p: h.voice.alert_call(q, p),
    "/voice/alert/next": lambda h, q, p: h.voice.alert_next(q, p),
    "/voice/status": lambda h, q, p: h.call_status(q["leg"], p),
    "/sms/status": lambda h, q, p: h.sms_status(q["leg"], p),
    "/voice/inbound": lambda h, q, p: h.voice.inbound_call(p),
    "/voice/inbound/next": lambda h, q, p: h.voice.inbound_next(q, p),
    "/sms/inbound": lambda h, q, p: h.inbound_sms(p),
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
    """The webhooks under /twilio; ``hooks`` gives the handler once the engine is built."""
    router = APIRouter(prefix=WEBHOOK_PREFIX, tags=["twilio"])
    for path, handler in _ROUTES.items():
        router.add_api_route(path, _endpoint(handler, hooks, check), methods=["POST"],
                             response_class=Response, include_in_schema=True,
                             responses={403: {"description": "Missing or invalid Twilio signature"}})
    return router


def _endpoint(handler: _Handler, hooks: Callable[[], TwilioWebhooks], check: SignatureCheck) -> Callable[..., object]:
    async def endpoint(request: Request) -> Response:
        params = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        if not check.valid(request, params):
            log.warning("twilio webhook %s refused: bad or missing signature (from %s)", request.url.path,
                        request.client.host if request.client else "?")
            raise HTTPException(403, "invalid Twilio signature")
        query = dict(request.query_params)
        try:
            body = await run_in_threadpool(handler, hooks(), query, params)
        except KeyError as exc:
            raise HTTPException(400, f"missing parameter {exc}") from None
        except ValueError as exc:  # a signed URL we never made (a flow token from another version)
            raise HTTPException(400, str(exc)) from None
        return Response(body or "", media_type=XML if body else None, status_code=200 if body else 204)
    return endpoint

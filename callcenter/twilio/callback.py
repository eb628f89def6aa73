"""Click-to-call back over Twilio: ``calls.create`` rings the operator's phone with TwiML that
``<Dial>``s the household once the operator answers, showing the service's number as caller ID.

Twilio reports each step to signed webhooks under ``/twilio/callback/…``; they become notes on the
incident timeline naming the call's SID, which is also the reference the console shows:

- operator call status: answered → "operator answered"; busy / no-answer / canceled / failed →
  "operator did not answer" (the ``<Dial>`` never runs, so the household is never called);
  completed → "ended";
- the household leg's status callback: answered → "household answered";
- the ``<Dial>`` action: busy / no-answer / failed / canceled → "household did not answer".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

from fastapi import APIRouter
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, VoiceResponse

from callcenter.channels.errors import ProviderError
from callcenter.service.callback import CallBackError, CallBackOutcome, CallBackTimeline
from callcenter.settings import TwilioSettings
from callcenter.twilio import twiml
from callcenter.twilio.channels import WEBHOOK_PREFIX
from callcenter.twilio.client import make_client
from callcenter.twilio.errors import translate
from callcenter.twilio.router import SignatureCheck, WebhookRoute, signed_router

__all__ = ["CallBackUrls", "CallBackWebhooks", "TwilioCallBack", "build_call_back", "callback_router", "dial_twiml"]

log = logging.getLogger(__name__)
CALL_BACK_PATH = "/callback"
OPERATOR_STATUS: dict[str, CallBackOutcome] = {
    "in-progress": CallBackOutcome.OPERATOR_ANSWERED, "answered": CallBackOutcome.OPERATOR_ANSWERED,
    "busy": CallBackOutcome.OPERATOR_UNANSWERED, "no-answer": CallBackOutcome.OPERATOR_UNANSWERED,
    "canceled": CallBackOutcome.OPERATOR_UNANSWERED, "failed": CallBackOutcome.OPERATOR_UNANSWERED,
    "completed": CallBackOutcome.ENDED,
}
HOUSEHOLD_STATUS: dict[str, CallBackOutcome] = {
    "in-progress": CallBackOutcome.HOUSEHOLD_ANSWERED, "answered": CallBackOutcome.HOUSEHOLD_ANSWERED,
}
DIAL_UNANSWERED = frozenset({"busy", "no-answer", "failed", "canceled"})
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


class CallBackApi(Protocol):
    def create_call_back(self, to: str, sender: str, twiml: str, status_url: str, ring_seconds: int) -> str:
        """Place the operator's call running ``twiml``; its SID. Raises ProviderError."""
        ...


@dataclass
class CallBackRestApi:
    """CallBackApi over the official client. No answering-machine detection: it is our own operator."""

    client: Client

    def create_call_back(self, to: str, sender: str, twiml: str, status_url: str, ring_seconds: int) -> str:
        try:
            call = self.client.calls.create(
                to=to, from_=sender, twiml=twiml, status_callback=status_url, status_callback_method="POST",
                status_callback_event=STATUS_EVENTS, timeout=ring_seconds,
            )
        except Exception as exc:  # translated at the boundary
            raise translate(exc) from exc
        return str(call.sid)


@dataclass(frozen=True, slots=True)
class CallBackUrls:
    public_base_url: str

    def url(self, step: str, incident_id: str) -> str:
        base = self.public_base_url.rstrip("/") + WEBHOOK_PREFIX + CALL_BACK_PATH
        return f"{base}/{step}?{urlencode({'incident': incident_id})}"


def dial_twiml(household_line: str, caller_id: str, ring_seconds: int, dial_action: str, household_status: str) -> str:
    """What the operator's answered call runs: ring the household with our number as caller ID."""
    response = VoiceResponse()
    dial = Dial(caller_id=caller_id, timeout=ring_seconds, action=dial_action, method="POST")
    dial.number(household_line, status_callback=household_status, status_callback_event="answered completed",
                status_callback_method="POST")
    response.append(dial)
    return str(response)


class TwilioCallBack:
    def __init__(self, api: CallBackApi, caller_id: str, urls: CallBackUrls, timeline: CallBackTimeline,
                 ring_seconds: int = 30) -> None:
        if not caller_id:
            raise ValueError("a Twilio call-back needs twilio.call_from (the caller ID households see)")
        self.api, self.caller_id, self.urls, self.timeline = api, caller_id, urls, timeline
        self.ring_seconds = ring_seconds

    def call_back(self, operator_phone: str, household_line: str, incident_id: str) -> str:
        if not operator_phone:
            raise CallBackError("this account has no phone to ring first")
        document = dial_twiml(household_line, self.caller_id, self.ring_seconds,
                              self.urls.url("dial", incident_id), self.urls.url("household", incident_id))
        try:
            return self.api.create_call_back(operator_phone, self.caller_id, document,
                                             self.urls.url("operator", incident_id), self.ring_seconds)
        except ProviderError as exc:
            self.timeline.record(incident_id, "twilio", CallBackOutcome.FAILED, str(exc))
            raise CallBackError(f"Twilio did not place the call-back: {exc}") from exc


@dataclass
class CallBackWebhooks:
    """Twilio's reports about call-backs, as timeline notes (pure mapping; HTTP in ``callback_router``)."""

    timeline: CallBackTimeline

    def operator(self, query: Mapping[str, str], params: Mapping[str, str]) -> str | None:
        self._record(query, params["CallSid"], OPERATOR_STATUS.get(params.get("CallStatus", "")), params)
        return None

    def household(self, query: Mapping[str, str], params: Mapping[str, str]) -> str | None:
        reference = params.get("ParentCallSid") or params["CallSid"]
        self._record(query, reference, HOUSEHOLD_STATUS.get(params.get("CallStatus", "")), params)
        return None

    def dial(self, query: Mapping[str, str], params: Mapping[str, str]) -> str | None:
        status = params.get("DialCallStatus", "")
        if status in DIAL_UNANSWERED:
            self.timeline.record(query["incident"], params["CallSid"], CallBackOutcome.HOUSEHOLD_UNANSWERED, status)
        return twiml.hangup()

    def _record(self, query: Mapping[str, str], reference: str, outcome: CallBackOutcome | None,
                params: Mapping[str, str]) -> None:
        if outcome is None:
            return
        detail = params.get("CallStatus", "")
        if outcome is CallBackOutcome.ENDED:
            detail = f"通话 {params.get('CallDuration', '?')} 秒"
        elif outcome is not CallBackOutcome.OPERATOR_UNANSWERED:
            detail = ""
        self.timeline.record(query["incident"], reference, outcome, detail)


_CALL_FIELDS = ("ParentCallSid", "DialCallStatus", "CallDuration")
_ROUTES: dict[str, WebhookRoute[CallBackWebhooks]] = {
    "/operator": WebhookRoute(CallBackWebhooks.operator, "Status of a call-back's call to the operator",
                              ("incident",), fields=_CALL_FIELDS),
    "/household": WebhookRoute(CallBackWebhooks.household, "Status of a call-back's leg to the household",
                               ("incident",), fields=_CALL_FIELDS),
    "/dial": WebhookRoute(CallBackWebhooks.dial, "How a call-back's dial to the household ended", ("incident",),
                          fields=_CALL_FIELDS),
}


def callback_router(hooks: Callable[[], CallBackWebhooks], check: SignatureCheck) -> APIRouter:
    """The call-back webhooks under /twilio/callback, each behind the Twilio signature check."""
    return signed_router(WEBHOOK_PREFIX + CALL_BACK_PATH, _ROUTES, hooks, check)


def build_call_back(settings: TwilioSettings, public_base_url: str, timeline: CallBackTimeline) -> TwilioCallBack:
    """From settings (called by callcenter.bootstrap): the first call_from number is the caller ID."""
    client = make_client(settings.account_sid, settings.auth_token.get_secret_value(), settings.api_base_url,
                         settings.request_timeout_seconds)
    caller_id = settings.call_from[0] if settings.call_from else ""
    return TwilioCallBack(CallBackRestApi(client), caller_id, CallBackUrls(public_base_url), timeline,
                          settings.ring_seconds)

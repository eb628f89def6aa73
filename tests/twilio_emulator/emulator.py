"""A local stand-in for Twilio's REST API and its webhooks, scriptable per destination number.

Serves ``POST/GET /2010-04-01/Accounts/{sid}/Calls.json`` and ``Messages.json`` in Twilio's JSON
shapes (HTTP basic auth with the account SID and auth token), then, on worker threads, plays the
scripted outcome against our webhooks with valid ``X-Twilio-Signature`` headers: status callbacks,
the TwiML fetch of an answered call (with ``AnsweredBy`` when the call asked for machine detection) and the
``<Gather>`` result. Outcomes per number, used in order (the last one repeats):

calls: answer+1, answer+2, answer (no key), machine, busy, no-answer, failed, 429, 500, slow
sms:   delivered, undelivered, failed, 429, 500, slow

``429``/``500`` answer the create request with that error; ``slow`` answers only after
``slow_seconds`` (longer than the client waits) and places nothing. Every create request is
recorded with its arrival time, so tests can prove send rates were honoured.

A call created with inline ``Twiml`` runs that document instead of fetching ``Url``. A ``<Dial>``
in it (click-to-call back) is recorded in ``Resource.dials`` and the dialled number plays its own
scripted call outcome: "answer…" answers (its ``<Number statusCallback>`` hears in-progress, then
completed), busy / no-answer / failed do not; the ``<Dial action>`` then gets ``DialCallStatus``.

``hang_up_gate`` (an Event): answered calls stay in progress after their ``<Gather>`` result until it is
set, as a neighbour listening to the thanks does.

Recordings: ``add_recording(wav)`` stores a WAV served at Twilio's recording URL (``….wav``, same
basic auth as the API); ``inbound_call`` answers a ``<Record>`` with it when given one.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from twilio.request_validator import RequestValidator

from tests.twilio_emulator.server import ServerThread

CALL_OUTCOMES = frozenset({"answer+1", "answer+2", "answer", "machine", "busy", "no-answer", "failed",
                           "429", "500", "slow"})
SMS_OUTCOMES = frozenset({"delivered", "undelivered", "failed", "429", "500", "slow"})
_ERRORS = {"429": (429, 20429, "Too Many Requests"), "500": (500, 20500, "Internal Server Error")}


@dataclass(frozen=True, slots=True)
class ApiRequest:
    at: float  # time.monotonic() on arrival
    kind: str  # "call" or "sms"
    sender: str
    to: str
    outcome: str


@dataclass
class Resource:
    sid: str
    kind: str
    to: str
    sender: str
    body: str = ""
    status: str = "queued"
    outcome: str = ""
    twiml: list[str] = field(default_factory=list)  # every TwiML document our app returned
    callbacks: list[dict[str, str]] = field(default_factory=list)
    answered_callbacks: int = 0  # status callbacks our app has answered (callbacks are appended before)
    dials: list[DialRecord] = field(default_factory=list)  # <Dial>s this call ran


@dataclass(frozen=True, slots=True)
class DialRecord:
    number: str
    caller_id: str
    outcome: str


class Emulator:
    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "emulator-token-" + "x" * 17,
                 slow_seconds: float = 3.0, step_seconds: float = 0.02) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.slow_seconds, self.step_seconds = slow_seconds, step_seconds
        self.requests: list[ApiRequest] = []
        self.resources: dict[str, Resource] = {}
        self.replies: list[tuple[str, str]] = []  # (to, text) of <Message> in our SMS webhook answers
        self.webhook_statuses: list[tuple[str, int]] = []  # (url, HTTP status) of every webhook post
        self._scripts: dict[str, list[str]] = {}  # "call:+86…" → outcomes still to play
        self.recordings: dict[str, bytes] = {}  # RE… → WAV bytes served at the recording URL
        self.recording_fetches: list[tuple[str, int]] = []  # (sid, HTTP status) of every download
        self.recording_failures = 0  # the next N recording downloads answer 500
        # When set, an answered call stays up after its key until this is set (a neighbour listening
        # to the thanks): the test looks at what the key did while the call is still in progress.
        self.hang_up_gate: threading.Event | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._signer = RequestValidator(auth_token)
        self._workers = ThreadPoolExecutor(16, thread_name_prefix="emulator")
        self._http = httpx.Client(timeout=10.0)
        self._server = ServerThread(self._app())

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._server.base_url

    def start(self) -> Emulator:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        self._workers.shutdown(wait=True, cancel_futures=True)
        self._http.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting and inspection ----------------------------------------------------------

    def script(self, number: str, *outcomes: str, kind: str = "") -> None:
        """Outcomes of the next requests to ``number``; ``kind`` "call" or "sms" (default: by outcome)."""
        kind = kind or ("sms" if set(outcomes) <= SMS_OUTCOMES - CALL_OUTCOMES else "call")
        allowed = CALL_OUTCOMES if kind == "call" else SMS_OUTCOMES
        if not outcomes or not set(outcomes) <= allowed:
            raise ValueError(f"unknown {kind} outcomes {sorted(set(outcomes) - allowed)}")
        with self._lock:
            self._scripts[f"{kind}:{number}"] = list(outcomes)

    def created(self, kind: str, to: str | None = None) -> list[Resource]:
        with self._lock:
            return [r for r in self.resources.values() if r.kind == kind and (to is None or r.to == to)]

    def api_requests(self, kind: str, sender: str | None = None) -> list[ApiRequest]:
        with self._lock:
            return [r for r in self.requests if r.kind == kind and (sender is None or r.sender == sender)]

    def max_in_window(self, kind: str, sender: str | None = None, window: float = 1.0) -> int:
        """Most create requests that arrived within any ``window`` seconds (half-open)."""
        times = sorted(r.at for r in self.api_requests(kind, sender))
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def sign(self, url: str, params: dict[str, str]) -> str:
        return str(self._signer.compute_signature(url, params))

    # -- our webhooks called the way Twilio calls them ---------------------------------------

    def post_webhook(self, url: str, params: dict[str, str], signature: str | None = None) -> httpx.Response:
        headers = {"X-Twilio-Signature": self.sign(url, params) if signature is None else signature}
        response = self._http.post(url, data=params, headers=headers)
        with self._lock:
            self.webhook_statuses.append((url, response.status_code))
        return response

    def inbound_sms(self, url: str, sender: str, to: str, body: str) -> str:
        params = {"MessageSid": self._sid("SM"), "AccountSid": self.account_sid, "From": sender, "To": to,
                  "Body": body, "NumMedia": "0"}
        text = self.post_webhook(url, params).text
        for message in _messages(text):
            with self._lock:
                self.replies.append((sender, message))
        return text

    def inbound_call(self, url: str, sender: str, to: str, keys: Sequence[str] = (),
                     recording: bytes | None = None, stir_verstat: str = "TN-Validation-Passed-A") -> list[str]:
        """A household calls our number, then answers each ``<Gather>`` in turn: a key, or "" to let it
        time out (Twilio then follows the ``<Redirect>``); "rec" finishes a ``<Record>`` with
        ``recording`` (a WAV served at its RecordingUrl). ``stir_verstat``: the STIR/SHAKEN verdict
        Twilio passes ("" for none, as on a call without a signed identity). Returns every TwiML
        document we answered."""
        params = {"CallSid": self._sid("CA"), "AccountSid": self.account_sid, "From": sender, "To": to,
                  "CallStatus": "ringing", "Direction": "inbound",
                  **({"StirVerstat": stir_verstat} if stir_verstat else {})}
        documents = [self.post_webhook(url, params).text]
        params["CallStatus"] = "in-progress"
        for key in keys:
            if key == "rec":
                target, extra = _record_action(documents[-1]), self._recorded(recording or b"")
            else:
                target, extra = (_gather_action(documents[-1]), {"Digits": key}) if key else \
                    (_redirect(documents[-1]), {})
            if not target:
                break
            documents.append(self.post_webhook(target, {**params, **extra}).text)
        return documents

    def _recorded(self, wav: bytes) -> dict[str, str]:
        url = self.add_recording(wav)
        return {"RecordingUrl": url, "RecordingSid": url.rsplit("/", 1)[1], "RecordingDuration": "3"}

    # -- the REST API ----------------------------------------------------------------------

    def _app(self) -> FastAPI:
        app = FastAPI()
        base = "/2010-04-01/Accounts/{account}"
        app.post(base + "/Calls.json")(self._endpoint("call"))
        app.post(base + "/Messages.json")(self._endpoint("sms"))
        app.get(base + "/Calls/{sid}.json")(self._fetch)
        app.get(base + "/Messages/{sid}.json")(self._fetch)
        app.get(base + "/Recordings/{sid}.wav")(self._recording)
        return app

    def add_recording(self, wav: bytes) -> str:
        """Store a recording; returns its RecordingUrl as Twilio gives it (without the .wav suffix)."""
        sid = self._sid("RE")
        with self._lock:
            self.recordings[sid] = wav
        return f"https://api.twilio.com/2010-04-01/Accounts/{self.account_sid}/Recordings/{sid}"

    async def _recording(self, account: str, sid: str, request: Request) -> Response:
        if not self._authorised(account, request):
            status, body = 401, b""
        else:
            with self._lock:
                failing = self.recording_failures > 0
                self.recording_failures -= 1 if failing else 0
                found = self.recordings.get(sid)
            status, body = (500, b"") if failing else (404, b"") if found is None else (200, found)
        with self._lock:
            self.recording_fetches.append((sid, status))
        return Response(body, status_code=status, media_type="audio/x-wav" if status == 200 else None)

    def _endpoint(self, kind: str) -> Callable[..., Any]:
        async def create(account: str, request: Request) -> JSONResponse:
            if not self._authorised(account, request):
                return _error(401, 20003, "Authenticate")
            params = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
            outcome = self._next_outcome(kind, params.get("To", ""))
            with self._lock:
                self.requests.append(ApiRequest(time.monotonic(), kind, params.get("From", ""),
                                                params.get("To", ""), outcome))
            if outcome in _ERRORS:
                return _error(*_ERRORS[outcome])
            if outcome == "slow":
                await asyncio.sleep(self.slow_seconds)
                return _error(504, 20504, "Gateway Timeout")
            resource = self._create(kind, params, outcome)
            return JSONResponse(self._json(resource), status_code=201)
        return create

    async def _fetch(self, account: str, sid: str, request: Request) -> JSONResponse:
        if not self._authorised(account, request):
            return _error(401, 20003, "Authenticate")
        with self._lock:
            resource = self.resources.get(sid)
        if resource is None:
            return _error(404, 20404, f"The requested resource {sid} was not found")
        return JSONResponse(self._json(resource))

    def _authorised(self, account: str, request: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return account == self.account_sid and request.headers.get("authorization") == f"Basic {expected}"

    def _next_outcome(self, kind: str, to: str) -> str:
        default = "answer+1" if kind == "call" else "delivered"
        with self._lock:
            script = self._scripts.get(f"{kind}:{to}")
            if not script:
                return default
            return script.pop(0) if len(script) > 1 else script[0]

    def _create(self, kind: str, params: dict[str, str], outcome: str) -> Resource:
        resource = Resource(self._sid("CA" if kind == "call" else "SM"), kind, params.get("To", ""),
                            params.get("From", ""), params.get("Body", ""), outcome=outcome)
        with self._lock:
            self.resources[resource.sid] = resource
        play = self._play_call if kind == "call" else self._play_sms
        self._workers.submit(self._guarded, play, resource, params)
        return resource

    def _json(self, r: Resource) -> dict[str, Any]:
        now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        common = {"sid": r.sid, "account_sid": self.account_sid, "to": r.to, "from": r.sender,
                  "status": r.status, "date_created": now, "date_updated": now, "api_version": "2010-04-01"}
        if r.kind == "call":
            return {**common, "direction": "outbound-api", "uri": f"/2010-04-01/Accounts/{self.account_sid}"
                    f"/Calls/{r.sid}.json", "parent_call_sid": None, "phone_number_sid": None}
        return {**common, "body": r.body, "num_segments": "1", "direction": "outbound-api", "price": None,
                "error_code": None, "error_message": None, "messaging_service_sid": None, "num_media": "0",
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{r.sid}.json"}

    def _sid(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):032x}"

    # -- playing an outcome ----------------------------------------------------------------

    def _guarded(self, play: Callable[[Resource, dict[str, str]], None], r: Resource, p: dict[str, str]) -> None:
        try:
            play(r, p)
        except httpx.HTTPError:
            return  # our app went away mid-call (end of a test): nothing left to report to

    def _play_sms(self, r: Resource, params: dict[str, str]) -> None:
        url = params.get("StatusCallback", "")
        for status in ("sent", r.outcome):
            self._status(r, url, {"MessageSid": r.sid, "SmsSid": r.sid, "MessageStatus": status,
                                  "SmsStatus": status, "From": r.sender, "To": r.to,
                                  **({"ErrorCode": "30003"} if status == "undelivered" else {})})

    def _play_call(self, r: Resource, params: dict[str, str]) -> None:
        url, base = params.get("StatusCallback", ""), {"CallSid": r.sid, "From": r.sender, "To": r.to,
                                                       "AccountSid": self.account_sid, "Direction": "outbound-api"}
        self._status(r, url, {**base, "CallStatus": "ringing"})
        if r.outcome in ("busy", "no-answer", "failed"):
            self._status(r, url, {**base, "CallStatus": r.outcome})
            return
        # As at Twilio: AnsweredBy only on calls created with machine detection; without it a
        # voicemail box is just an answered call.
        detected = {"AnsweredBy": "machine_start" if r.outcome == "machine" else "human"} \
            if params.get("MachineDetection") in ("Enable", "DetectMessageEnd") else {}
        answered = {**base, "CallStatus": "in-progress", **detected}
        self._status(r, url, answered)
        self._converse(r, params, answered)
        if self.hang_up_gate is not None:
            self.hang_up_gate.wait(60)
        self._status(r, url, {**base, "CallStatus": "completed", "CallDuration": "12", **detected})

    def _converse(self, r: Resource, created: dict[str, str], params: dict[str, str]) -> None:
        document = created.get("Twiml") or self.post_webhook(created.get("Url", ""), params).text
        r.twiml.append(document)
        dial = _dial_of(document)
        if dial is not None:
            self._play_dial(r, dial, params)
            return
        action = _gather_action(document)
        if r.outcome.startswith("answer+") and action:
            r.twiml.append(self.post_webhook(action, {**params, "Digits": r.outcome[-1]}).text)

    def _play_dial(self, r: Resource, dial: ElementTree.Element, parent: dict[str, str]) -> None:
        number = dial.find("Number")
        to = (number.text or "").strip() if number is not None else (dial.text or "").strip()
        outcome = self._next_outcome("call", to)
        r.dials.append(DialRecord(to, dial.get("callerId", ""), outcome))
        child = {"CallSid": self._sid("CA"), "ParentCallSid": r.sid, "AccountSid": self.account_sid,
                 "From": dial.get("callerId", r.sender), "To": to, "Direction": "outbound-dial"}
        status_url = number.get("statusCallback", "") if number is not None else ""
        answered = outcome.startswith("answer") or outcome == "machine"
        if answered:
            for status in ("in-progress", "completed"):
                time.sleep(self.step_seconds)
                if status_url:
                    self.post_webhook(status_url, {**child, "CallStatus": status})
        action = dial.get("action", "")
        if action:
            result = {**parent, "DialCallSid": child["CallSid"], "DialCallDuration": "8" if answered else "0",
                      "DialCallStatus": "completed" if answered else outcome}
            r.twiml.append(self.post_webhook(action, result).text)

    def _status(self, r: Resource, url: str, params: dict[str, str]) -> None:
        time.sleep(self.step_seconds)
        r.status = params.get("CallStatus") or params.get("MessageStatus", r.status)
        r.callbacks.append(params)
        if url:
            self.post_webhook(url, params)
        r.answered_callbacks += 1


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "status": status,
                         "more_info": f"https://www.twilio.com/docs/errors/{code}"}, status_code=status)


def _gather_action(document: str) -> str:
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError:
        return ""
    gather = root.find("Gather")
    return gather.get("action", "") if gather is not None else ""


def _record_action(document: str) -> str:
    try:
        record = ElementTree.fromstring(document).find("Record")
    except ElementTree.ParseError:
        return ""
    return record.get("action", "") if record is not None else ""


def _dial_of(document: str) -> ElementTree.Element | None:
    try:
        return ElementTree.fromstring(document).find("Dial")
    except ElementTree.ParseError:
        return None


def _redirect(document: str) -> str:
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError:
        return ""
    redirect = root.find("Redirect")
    return (redirect.text or "") if redirect is not None else ""


def _messages(document: str) -> list[str]:
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError:
        return []
    return [m.text or "" for m in root.iter("Message")]


@contextmanager
def running(**kwargs: Any) -> Iterator[Emulator]:
    with Emulator(**kwargs) as emulator:
        yield emulator



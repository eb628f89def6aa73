"""The HTTP surface under generated input: no request may cause a 500.

- Console, directory, health and metrics: schemathesis generates requests from the OpenAPI spec of
  ``callcenter.api.app`` and sends them with a signed-in administrator's session and CSRF header.
- Twilio webhooks: schemathesis generates their query and form fields from the spec too, and
  Hypothesis generates Twilio-shaped ones (leg references of a live incident, Twilio's statuses).
  Every request carries a valid ``X-Twilio-Signature``, so the fuzz reaches the handlers behind
  the signature check.

Seeded (derandomised) and bounded in examples, on SQLite with the real application and engine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from callcenter.api.app import create_app
from callcenter.api.deps import SESSION_COOKIE
from callcenter.bootstrap import ConsoleContainer, build
from callcenter.domain.types import CallerTrust
from callcenter.settings import load_settings
from tests.integration.console.conftest import LINE_A, NEIGHBOUR_KEY, PASSWORD, add_accounts, insert_directory

BASE_URL = "http://testserver"
AUTH_TOKEN = "f" * 32
TWILIO = {"enabled": True, "account_sid": "AC" + "0" * 32, "auth_token": AUTH_TOKEN,
          "sms_from": ["+14155550100"], "call_from": ["+14155550100"]}
FUZZ_ADMIN = "fuzz_admin"
# Generated requests that would end the fuzzing session itself; every other operation is fuzzed.
SESSION_ENDERS = {("DELETE", "/api/session"), ("GET", "/api/events")}
_FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                 suppress_health_check=list(HealthCheck))


class Console:
    def __init__(self, tmp: Path, database_url: str = "") -> None:
        self.container: ConsoleContainer = build(load_settings(
            database_url=database_url or f"sqlite:///{tmp / 'fuzz.db'}", data_dir=tmp,
            http={"public_base_url": BASE_URL},
            engine={"simulated_time_scale": 10_000},
            guard={"operator_phones": ["+8613900000001"]},
            twilio=TWILIO,
        ))
        self.container.init_db()
        insert_directory(self.container.engine)
        add_accounts(self.container)
        self.admin_id = self.container.accounts.add_user(FUZZ_ADMIN, "admin", PASSWORD, None, phone="").id
        self.container.runtime.start()
        self.incident_id = self.container.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL).id
        self.app: FastAPI = create_app(self.container)
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.client.__enter__()
        signed_in = self.client.post("/api/session", json={"name": FUZZ_ADMIN, "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        self.csrf = str(signed_in.json()["csrf_token"])
        self.session = str(self.client.cookies[SESSION_COOKIE])
        self.statuses: Counter[tuple[str, int]] = Counter()  # (API part, status) of every fuzzed request

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.container.close()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    found = Console(tmp_path_factory.mktemp("fuzz"))
    yield found
    found.close()


def _spec() -> dict[str, Any]:
    """The OpenAPI document, read from an application that never opens its database."""
    container = build(load_settings(data_dir=Path("/nonexistent"), http={"public_base_url": BASE_URL}, twilio=TWILIO))
    return create_app(container).openapi()


SPEC = _spec()
schema = schemathesis.openapi.from_dict(SPEC).exclude(path_regex="^/twilio/")
for _method, _path in SESSION_ENDERS:
    schema = schema.exclude(method=_method, path=_path)
webhook_schema = schemathesis.openapi.from_dict(SPEC).include(path_regex="^/twilio/")


@schema.parametrize()
@_FUZZ
@pytest.mark.timeout(120)
def test_console_api_never_answers_500(case: Any, console: Console) -> None:
    if case.path_parameters and case.path_parameters.get("user_id") == console.admin_id:
        case.path_parameters["user_id"] = console.admin_id + 1000  # keep the fuzzing account signed in
    request = case.as_transport_kwargs(base_url=BASE_URL, headers={"X-CSRF-Token": console.csrf})
    request.pop("cookies", None)
    response = console.client.request(**request)
    console.statuses["console", response.status_code] += 1
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} " \
                                        f"{response.text[:500]}"


@webhook_schema.parametrize()
@_FUZZ
@pytest.mark.timeout(120)
def test_signed_webhooks_from_the_spec_never_answer_500(case: Any, console: Console) -> None:
    request = case.as_transport_kwargs(base_url=BASE_URL)
    request.pop("cookies", None)
    query, fields = request.pop("params", None) or {}, _form_pairs(request.pop("data", None) or {})
    url = request.pop("url") + (f"?{urlencode(query, doseq=True)}" if query else "")
    # Signed as the handler reads the form: one value per name, the last one sent.
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, dict(fields))
    request["headers"]["X-Twilio-Signature"] = signature
    response = console.client.request(url=url, content=urlencode(fields), **request)
    console.statuses["twilio-spec", response.status_code] += 1
    assert response.status_code != 403, "the signature must be valid so the handler is reached"
    assert response.status_code < 500, f"POST {url} {fields}: {response.status_code} {response.text[:300]}"


def _form_pairs(data: dict[str, Any]) -> list[tuple[str, str]]:
    """A generated form as it travels: every value text, a list as the same name repeated."""
    return [(str(name), "" if item is None else str(item)) for name, value in data.items()
            for item in (value if isinstance(value, list) else [value])]


WEBHOOKS = ("/voice/alert", "/voice/alert/next", "/voice/status", "/sms/status", "/voice/inbound",
            "/voice/inbound/next", "/sms/inbound")
_TEXT = st.text(max_size=40)
_PHONES = st.sampled_from([LINE_A, NEIGHBOUR_KEY, "+8613700000099", "", "anonymous", "+1", "0" * 30])
_FORM_FIELDS = {
    "From": _PHONES, "To": _PHONES, "CallSid": _TEXT, "MessageSid": _TEXT, "SmsSid": _TEXT, "Body": _TEXT,
    "Digits": st.sampled_from(["", "1", "2", "9", "99", "#", "*", "1234567890"]) | _TEXT,
    "CallStatus": st.sampled_from(["ringing", "in-progress", "completed", "busy", "no-answer", "failed"]) | _TEXT,
    "MessageStatus": st.sampled_from(["sent", "delivered", "undelivered", "failed"]) | _TEXT,
    "SmsStatus": _TEXT, "AnsweredBy": st.sampled_from(["human", "machine_start", "fax"]) | _TEXT,
    "RecordingUrl": _TEXT, "RecordingDuration": st.sampled_from(["", "3", "-1", "nan", "1e999"]) | _TEXT,
}
_QUERY_KEYS = ("leg", "incident", "facts", "event", "state")


@st.composite
def _webhook_requests(draw: st.DrawFn, incident_id: str) -> tuple[str, dict[str, str], dict[str, str]]:
    path = draw(st.sampled_from(WEBHOOKS))
    form = draw(st.fixed_dictionaries({}, optional=_FORM_FIELDS))
    leg = st.sampled_from([f"{incident_id}/{NEIGHBOUR_KEY}/call/alert/1", f"{incident_id}/x", "", "nope"])
    query_values = {key: (leg if key == "leg" else _TEXT) for key in _QUERY_KEYS}
    query = draw(st.fixed_dictionaries({}, optional=query_values))
    return path, query, form


def test_signed_twilio_webhooks_never_answer_500(console: Console) -> None:
    signer = RequestValidator(AUTH_TOKEN)

    @given(request=_webhook_requests(console.incident_id))
    @settings(_FUZZ, max_examples=300)
    def post(request: tuple[str, dict[str, str], dict[str, str]]) -> None:
        path, query, form = request
        url = f"/twilio{path}" + (f"?{urlencode(query)}" if query else "")
        signature = signer.compute_signature(BASE_URL + url, form)
        response = console.client.post(url, data=form, headers={"X-Twilio-Signature": signature})
        console.statuses["twilio", response.status_code] += 1
        assert response.status_code != 403, "the signature must be valid so the handler is reached"
        assert response.status_code < 500, f"POST {url} {form}: {response.status_code} {response.text[:300]}"

    post()


def test_fuzzing_reached_the_handlers_signed_in(console: Console) -> None:
    """Runs after the fuzz tests above: they were answered by the handlers, not only refused."""
    accepted = {part: sum(n for (p, status), n in console.statuses.items() if p == part and status < 300)
                for part in ("console", "twilio", "twilio-spec")}
    assert accepted["console"] >= 100 and accepted["twilio"] >= 50 and accepted["twilio-spec"] >= 25, \
        console.statuses
    assert console.client.get("/api/session").status_code == 200


@pytest.fixture
def console_on(database_url: str, tmp_path: Path) -> Iterator[Console]:
    found = Console(tmp_path, database_url)
    yield found
    found.close()


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("PATCH", "/api/directory/responders/1", {}, 200),  # an empty change was an UPDATE without SET
    ("PATCH", "/api/directory/households/7", {}, 200),
    ("PATCH", "/api/users/1", {}, 200),
    ("PATCH", "/api/directory/responders/1", {"name": None}, 200),  # null was written into NOT NULL
    ("PATCH", "/api/directory/households/7", {"care_flags": None, "notes": None}, 200),
    ("PATCH", "/api/users/1", {"active": None, "display_name": None, "phone": None}, 200),
    ("GET", f"/api/households/{2**63}", None, 422),  # an id past 64 bits reached SQL
    ("GET", f"/api/directory/households/{2**63}", None, 422),
    ("PATCH", f"/api/users/{2**63}", {}, 422),
    ("GET", f"/api/directory/coverage?grid={2**63}", None, 422),
])
def test_inputs_that_once_caused_500_get_clear_answers(console_on: Console, method: str, path: str,
                                                       body: dict[str, Any] | None, status: int) -> None:
    response = console_on.client.request(method, path, json=body, headers={"X-CSRF-Token": console_on.csrf})
    assert response.status_code == status, response.text

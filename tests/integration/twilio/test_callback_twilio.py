"""Click-to-call back through the local Twilio emulator: the operator's call runs TwiML that <Dial>s the
household with our number as caller ID; signed status callbacks land on the real incident's timeline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from callcenter.adapters.clock import SystemClock
from callcenter.api.app import create_app
from callcenter.bootstrap import build
from callcenter.domain.types import CallerTrust
from callcenter.service.callback import CALL_BACK_LABELS, CallBackError, CallBackOutcome, CallBackTimeline
from callcenter.service.guard import GuardedCallBack, KnownNumbers, operator_phone_set
from callcenter.settings import load_settings
from callcenter.twilio.callback import CallBackWebhooks, TwilioCallBack, build_call_back, callback_router
from callcenter.twilio.router import SignatureCheck
from contacts.phones import PhonePolicy
from tests.integration.console.conftest import GUARD, LINE_A, OPERATOR_PHONE, add_accounts, insert_directory, sign_in
from tests.integration.twilio.rig import CALL_FROM, CALLER, LateApp, TwilioRig, group_directory, twilio_settings
from tests.twilio_emulator import Emulator, ServerThread
from tests.twilio_emulator.emulator import DialRecord
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(60)
OPERATOR = "+8613700000001"


class CallBackRig:
    """The call-back webhooks served on their own ephemeral port, writing to the rig's real engine."""

    def __init__(self, rig: TwilioRig, emulator: Emulator) -> None:
        self.rig, self.emulator = rig, emulator
        self.app = FastAPI()
        self.server = ServerThread(self.app)
        hooks = CallBackWebhooks(CallBackTimeline(rig.engine))
        self.app.include_router(callback_router(lambda: hooks, SignatureCheck(emulator.auth_token,
                                                                               self.server.base_url)))
        self.server.start()
        self.call_back = build_call_back(rig.settings, self.server.base_url, CallBackTimeline(rig.engine))

    def steps(self, incident_id: str) -> list[CallBackOutcome]:
        found = []
        for note in self.rig.notes(incident_id):
            found += [o for o, label in CALL_BACK_LABELS.items() if note.startswith("回拨") and f"：{label}" in note]
        return found

    def notes(self, incident_id: str) -> list[str]:
        return [n for n in self.rig.notes(incident_id) if n.startswith("回拨")]


@pytest.fixture
def callbacks(rig: TwilioRig, emulator: Emulator) -> Iterator[CallBackRig]:
    made = CallBackRig(rig, emulator)
    yield made
    made.server.stop()


def test_operator_answers_then_the_household_is_dialled_with_our_caller_id(callbacks: CallBackRig,
                                                                           emulator: Emulator) -> None:
    incident = callbacks.rig.press()
    reference = callbacks.call_back.call_back(OPERATOR, CALLER, incident.id)
    assert reference.startswith("CA")
    operator_call = wait_for(lambda: emulator.created("call", OPERATOR), what="the operator's call")[0]
    assert operator_call.sid == reference and operator_call.sender == CALL_FROM[0]
    assert wait_for(lambda: len(callbacks.steps(incident.id)) >= 3, what="three call-back steps")
    assert operator_call.dials == [DialRecord(CALLER, CALL_FROM[0], "answer+1")]
    assert callbacks.steps(incident.id) == [CallBackOutcome.OPERATOR_ANSWERED, CallBackOutcome.HOUSEHOLD_ANSWERED,
                                            CallBackOutcome.ENDED]
    assert all(reference in note for note in callbacks.notes(incident.id))
    assert not emulator.created("call", CALLER)  # the household is reached only through the <Dial>


def test_operator_not_answering_means_no_dial(callbacks: CallBackRig, emulator: Emulator) -> None:
    incident = callbacks.rig.press()
    emulator.script(OPERATOR, "no-answer")
    callbacks.call_back.call_back(OPERATOR, CALLER, incident.id)
    assert wait_for(lambda: callbacks.steps(incident.id), what="a call-back step")
    operator_call = emulator.created("call", OPERATOR)[0]
    wait_for(lambda: operator_call.status == "no-answer", what="the operator's call to end")
    assert operator_call.dials == [] and operator_call.twiml == []
    assert callbacks.steps(incident.id) == [CallBackOutcome.OPERATOR_UNANSWERED]
    assert "no-answer" in callbacks.notes(incident.id)[0]


def test_busy_household_is_recorded(callbacks: CallBackRig, emulator: Emulator) -> None:
    incident = callbacks.rig.press()
    emulator.script(CALLER, "busy")
    callbacks.call_back.call_back(OPERATOR, CALLER, incident.id)
    assert wait_for(lambda: CallBackOutcome.ENDED in callbacks.steps(incident.id), what="the call-back to end")
    assert callbacks.steps(incident.id) == [CallBackOutcome.OPERATOR_ANSWERED,
                                            CallBackOutcome.HOUSEHOLD_UNANSWERED, CallBackOutcome.ENDED]
    assert "busy" in callbacks.notes(incident.id)[1]
    assert emulator.created("call", OPERATOR)[0].dials[0].outcome == "busy"


def test_twilio_refusing_the_call_is_a_clear_error_and_on_the_timeline(callbacks: CallBackRig,
                                                                       emulator: Emulator) -> None:
    incident = callbacks.rig.press()
    emulator.script(OPERATOR, "500")
    with pytest.raises(CallBackError, match="Twilio did not place the call-back"):
        callbacks.call_back.call_back(OPERATOR, CALLER, incident.id)
    assert callbacks.steps(incident.id) == [CallBackOutcome.FAILED]


def test_guard_refuses_a_household_line_outside_the_directory(callbacks: CallBackRig, emulator: Emulator) -> None:
    incident = callbacks.rig.press()
    policy = PhonePolicy()
    known = KnownNumbers(group_directory(3), operator_phone_set([OPERATOR], policy), policy, SystemClock(),
                         timedelta(seconds=60))
    guarded = GuardedCallBack(callbacks.call_back, known)
    before = len(emulator.api_requests("call"))
    with pytest.raises(CallBackError, match="not in the directory"):
        guarded.call_back(OPERATOR, "+8613912345678", incident.id)
    assert len(emulator.api_requests("call")) == before and callbacks.steps(incident.id) == []


def test_unsigned_call_back_webhook_is_refused(callbacks: CallBackRig, emulator: Emulator) -> None:
    incident = callbacks.rig.press()
    url = f"{callbacks.server.base_url}/twilio/callback/operator?incident={incident.id}"
    response = emulator.post_webhook(url, {"CallSid": "CA1", "CallStatus": "in-progress"}, signature="forged")
    assert response.status_code == 403
    signed = emulator.post_webhook(url, {"CallSid": "CA1", "CallStatus": "in-progress"})
    assert signed.status_code == 204
    assert callbacks.steps(incident.id) == [CallBackOutcome.OPERATOR_ANSWERED]


def test_a_twilio_call_back_needs_a_caller_id(callbacks: CallBackRig) -> None:
    with pytest.raises(ValueError, match="call_from"):
        TwilioCallBack(callbacks.call_back.api, "", callbacks.call_back.urls, callbacks.call_back.timeline)


def test_console_call_back_action_rings_the_operator_then_the_household(database_url: str, tmp_path: Path,
                                                                         emulator: Emulator) -> None:
    """The operator's button (POST /api/incidents/{id}/call-back) through the composition root."""
    late = LateApp()
    server = ServerThread(late)
    settings = load_settings(
        database_url=database_url, data_dir=tmp_path, guard=GUARD, http={"public_base_url": server.base_url},
        engine={"call_channel": "twilio"},
        twilio=twilio_settings(emulator, tmp_path).model_dump(mode="json") | {
            "auth_token": emulator.auth_token},
    )
    container = build(settings)
    container.init_db()
    insert_directory(container.engine)
    add_accounts(container)
    container.runtime.start()
    late.app = create_app(container)
    server.start()
    try:
        with TestClient(late.app) as client:
            sign_in(client, "operator")
            incident = container.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL)
            response = client.post(f"/api/incidents/{incident.id}/call-back")
            assert response.status_code == 200, response.text
            reference = response.json()["reference"]
            assert reference.startswith("CA")

            def steps() -> list[str]:
                timeline = client.get(f"/api/incidents/{incident.id}").json()["timeline"]
                return [e["data"]["text"] for e in timeline
                        if e["kind"] == "note" and e["data"].get("text", "").startswith(f"回拨 {reference}")]
            assert wait_for(lambda: len(steps()) >= 3, what="the call-back's steps on the timeline")
            labels = [CALL_BACK_LABELS[o] for o in (CallBackOutcome.OPERATOR_ANSWERED,
                                                    CallBackOutcome.HOUSEHOLD_ANSWERED, CallBackOutcome.ENDED)]
            assert [next(label for label in labels if label in text) for text in steps()] == labels
            timeline = client.get(f"/api/incidents/{incident.id}").json()["timeline"]
            assert any(e["kind"] == "call_back" and e["data"]["reference"] == reference for e in timeline)
        operator_call = emulator.created("call", OPERATOR_PHONE)[0]
        assert operator_call.dials == [DialRecord(LINE_A, CALL_FROM[0], "answer+1")]
    finally:
        server.stop()
        container.close()

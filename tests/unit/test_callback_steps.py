"""Call-back steps on the timeline and what Twilio's call-back reports mean (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree import ElementTree

import pytest

from callcenter.domain.types import Actor
from callcenter.service.callback import CALL_BACK_ACTOR, CallBackOutcome, CallBackTimeline, call_back_note
from callcenter.twilio.callback import CallBackUrls, CallBackWebhooks, dial_twiml

INCIDENT = "inc-7"


@dataclass
class Notes:
    written: list[tuple[str, str, Actor]] = field(default_factory=list)
    fail: bool = False

    def add_note(self, incident_id: str, text: str, actor: Actor) -> None:
        if self.fail:
            raise RuntimeError("database away")
        self.written.append((incident_id, text, actor))


def test_note_names_reference_step_and_detail() -> None:
    assert call_back_note("CA1", CallBackOutcome.HOUSEHOLD_UNANSWERED, "busy") == "回拨 CA1：住户未接听（busy）"
    assert call_back_note("sip-callback-1", CallBackOutcome.ENDED) == "回拨 sip-callback-1：通话结束"


def test_timeline_writes_as_the_call_back_actor_and_never_raises() -> None:
    notes = Notes()
    CallBackTimeline(notes).record(INCIDENT, "CA1", CallBackOutcome.OPERATOR_ANSWERED)
    assert notes.written == [(INCIDENT, "回拨 CA1：接线员已接听，正在呼叫住户", CALL_BACK_ACTOR)]
    notes.fail = True
    CallBackTimeline(notes).record(INCIDENT, "CA1", CallBackOutcome.ENDED)  # logged, the call goes on
    assert len(notes.written) == 1


@pytest.mark.parametrize(("status", "expected"), [
    ("in-progress", [CallBackOutcome.OPERATOR_ANSWERED]), ("busy", [CallBackOutcome.OPERATOR_UNANSWERED]),
    ("no-answer", [CallBackOutcome.OPERATOR_UNANSWERED]), ("failed", [CallBackOutcome.OPERATOR_UNANSWERED]),
    ("completed", [CallBackOutcome.ENDED]), ("ringing", []), ("initiated", []),
])
def test_operator_call_statuses(status: str, expected: list[CallBackOutcome]) -> None:
    notes = Notes()
    CallBackWebhooks(CallBackTimeline(notes)).operator({"incident": INCIDENT}, {"CallSid": "CA9", "CallStatus": status})
    assert [t for _, t, _ in notes.written] == [call_back_note("CA9", o, _detail(o, status)) for o in expected]


def _detail(outcome: CallBackOutcome, status: str) -> str:
    if outcome is CallBackOutcome.OPERATOR_UNANSWERED:
        return status
    return "通话 ? 秒" if outcome is CallBackOutcome.ENDED else ""


def test_household_leg_reported_under_the_operator_call_reference() -> None:
    notes = Notes()
    hooks = CallBackWebhooks(CallBackTimeline(notes))
    hooks.household({"incident": INCIDENT}, {"CallSid": "CA2", "ParentCallSid": "CA1", "CallStatus": "in-progress"})
    hooks.household({"incident": INCIDENT}, {"CallSid": "CA2", "ParentCallSid": "CA1", "CallStatus": "completed"})
    assert [t for _, t, _ in notes.written] == ["回拨 CA1：住户已接听，双方已接通"]


@pytest.mark.parametrize(("status", "noted"), [("busy", True), ("no-answer", True), ("completed", False)])
def test_dial_result(status: str, noted: bool) -> None:
    notes = Notes()
    answer = CallBackWebhooks(CallBackTimeline(notes)).dial({"incident": INCIDENT},
                                                           {"CallSid": "CA1", "DialCallStatus": status})
    assert answer is not None and "<Hangup" in answer
    assert bool(notes.written) is noted


def test_dial_twiml_rings_the_household_with_our_caller_id() -> None:
    urls = CallBackUrls("https://995.example.cn/")
    root = ElementTree.fromstring(dial_twiml("+867176123456", "+14155550100", 25, urls.url("dial", INCIDENT),
                                             urls.url("household", INCIDENT)))
    dial = root.find("Dial")
    assert dial is not None and dial.get("callerId") == "+14155550100" and dial.get("timeout") == "25"
    assert dial.get("action") == "https://995.example.cn/twilio/callback/dial?incident=inc-7"
    number = dial.find("Number")
    assert number is not None and number.text == "+867176123456"
    assert number.get("statusCallback") == "https://995.example.cn/twilio/callback/household?incident=inc-7"

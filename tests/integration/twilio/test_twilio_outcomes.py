"""Every Twilio outcome becomes the right leg status; status callbacks drive redial."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from callcenter.domain.types import LegStatus
from tests.integration.twilio.rig import GRID_WORKER, TwilioRig, neighbour
from tests.twilio_emulator import Emulator
from tests.waiting import wait_for

CALL_OUTCOMES = {
    "answer+1": LegStatus.ACKNOWLEDGED,
    "answer+2": LegStatus.DECLINED,
    "machine": LegStatus.ANSWERED_WITHOUT_KEY,
    "answer": LegStatus.ANSWERED_WITHOUT_KEY,
    "busy": LegStatus.BUSY,
    "no-answer": LegStatus.NO_ANSWER,
    "failed": LegStatus.FAILED,
}
SMS_OUTCOMES = {"delivered": LegStatus.DELIVERED, "undelivered": LegStatus.UNDELIVERED, "failed": LegStatus.FAILED}


def _first_attempt(rig: TwilioRig, incident_id: str, phone: str, channel: str) -> str:
    statuses = rig.statuses(incident_id, phone, channel)
    return statuses[0] if statuses and LegStatus(statuses[0]).is_final else ""


def test_every_call_and_sms_outcome_is_mapped(rig_factory: Callable[..., TwilioRig], database_url: str,
                                             emulator: Emulator) -> None:
    rig = rig_factory(database_url, neighbours=len(CALL_OUTCOMES))
    for i, outcome in enumerate(CALL_OUTCOMES, start=1):
        emulator.script(neighbour(i), outcome)
    incident = rig.press()
    for i, expected in enumerate(CALL_OUTCOMES.values(), start=1):
        got = wait_for(lambda i=i: _first_attempt(rig, incident.id, neighbour(i), "call"),
                       what=f"call to neighbour {i}")
        assert got == expected, f"neighbour {i}: {got} != {expected}"


@pytest.mark.parametrize(("outcome", "expected"), list(SMS_OUTCOMES.items()))
def test_sms_delivery_callbacks_become_leg_outcomes(rig: TwilioRig, emulator: Emulator, outcome: str,
                                                    expected: LegStatus) -> None:
    emulator.script(GRID_WORKER, outcome, kind="sms")
    incident = rig.press()
    got = wait_for(lambda: _first_attempt(rig, incident.id, GRID_WORKER, "sms"), what="grid worker SMS")
    assert got == expected
    wait_for(lambda: rig.legs(incident.id, GRID_WORKER, "sms")[0].provider_ref.startswith("twilio:SM"),
             what="the message SID on the leg")


def test_alert_call_twiml_speaks_mandarin_and_gathers_one_key(rig: TwilioRig, emulator: Emulator) -> None:
    emulator.script(neighbour(1), "answer+1")
    incident = rig.press()
    wait_for(lambda: _first_attempt(rig, incident.id, neighbour(1), "call"), what="first call")
    call = emulator.created("call", neighbour(1))[0]
    wait_for(lambda: len(call.twiml) == 2, what="the TwiML after the key")
    assert '<Say language="zh-CN">' in call.twiml[0] and "张桂兰" in call.twiml[0]
    assert 'numDigits="1"' in call.twiml[0] and "张家村三组1号" in call.twiml[0]
    assert "谢谢" in call.twiml[1]


def test_machine_hears_nothing_and_is_not_counted(rig: TwilioRig, emulator: Emulator) -> None:
    emulator.script(neighbour(1), "machine")
    incident = rig.press()
    wait_for(lambda: _first_attempt(rig, incident.id, neighbour(1), "call"), what="machine call")
    call = wait_for(lambda: emulator.created("call", neighbour(1)), what="the call")[0]
    wait_for(lambda: call.twiml, what="the TwiML fetch")
    assert "<Hangup" in call.twiml[0] and "<Say" not in call.twiml[0]
    assert not any(e.kind == "acknowledged" and "邻居1" in e.actor for e in rig.timeline(incident.id))
    assert rig.statuses(incident.id, neighbour(1), "call")[0] == LegStatus.ANSWERED_WITHOUT_KEY


def test_busy_then_answer_redials_from_the_status_callback(rig: TwilioRig, emulator: Emulator) -> None:
    emulator.script(neighbour(1), "busy", "no-answer", "answer+1")
    for other in (2, 3):  # nobody else confirms, so the quorum does not stop the redials
        emulator.script(neighbour(other), "no-answer")
    incident = rig.press()
    wait_for(lambda: len(rig.statuses(incident.id, neighbour(1), "call")) == 3
             and LegStatus(rig.statuses(incident.id, neighbour(1), "call")[2]).is_final, timeout=30, what="two redials")
    assert rig.statuses(incident.id, neighbour(1), "call") == [LegStatus.BUSY, LegStatus.NO_ANSWER,
                                                               LegStatus.ACKNOWLEDGED]
    assert len(emulator.created("call", neighbour(1))) == 3

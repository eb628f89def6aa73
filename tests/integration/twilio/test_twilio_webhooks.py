"""SMS replies, inbound calls and signature checks on the webhooks, through the emulator."""

from __future__ import annotations

import logging

import pytest

from callcenter.domain.types import Actor, IncidentStatus, LegStatus
from tests.integration.twilio.rig import CALLER, GRID_WORKER, SECOND_CALLER, SMS_FROM, TwilioRig, neighbour
from tests.twilio_emulator import Emulator
from tests.waiting import wait_for


def _delivered(rig: TwilioRig, incident_id: str, phone: str) -> bool:
    return LegStatus.DELIVERED in rig.statuses(incident_id, phone, "sms")


def _alerting_with_sms(rig: TwilioRig, emulator: Emulator, phone: str, caller: str = CALLER) -> str:
    for i in range(1, 4):
        emulator.script(neighbour(i), "no-answer")
    incident = rig.press(caller)
    wait_for(lambda: _delivered(rig, incident.id, phone), what=f"SMS to {phone} delivered")
    return incident.id


@pytest.mark.parametrize("reply", ["1", "收到", "到", " 收到！", "１"])
def test_reply_acknowledges_and_confirms(rig: TwilioRig, emulator: Emulator, reply: str) -> None:
    incident_id = _alerting_with_sms(rig, emulator, GRID_WORKER)
    answer = emulator.inbound_sms(rig.url("/sms/inbound"), GRID_WORKER, SMS_FROM[0], reply)
    assert rig.statuses(incident_id, GRID_WORKER, "sms")[0] == LegStatus.ACKNOWLEDGED
    assert rig.status(incident_id) == IncidentStatus.ACKNOWLEDGED  # the grid worker alone meets the quorum
    assert "已确认您将前往" in answer and "张桂兰" in answer


@pytest.mark.parametrize("reply", ["不到", "12", "到了吗", "我马上到", "0", ""])
def test_ambiguous_reply_is_a_note_for_operators_not_an_acknowledgement(rig: TwilioRig, emulator: Emulator,
                                                                        reply: str) -> None:
    incident_id = _alerting_with_sms(rig, emulator, neighbour(1))
    answer = emulator.inbound_sms(rig.url("/sms/inbound"), neighbour(1), SMS_FROM[0], reply)
    assert rig.statuses(incident_id, neighbour(1), "sms")[0] == LegStatus.DELIVERED
    assert not any(e.kind == "acknowledged" for e in rig.timeline(incident_id))
    assert any(reply in note and "邻居1" in note for note in rig.notes(incident_id))
    assert "转给值班员" in answer


def test_reply_2_declines(rig: TwilioRig, emulator: Emulator) -> None:
    incident_id = _alerting_with_sms(rig, emulator, neighbour(2))
    answer = emulator.inbound_sms(rig.url("/sms/inbound"), neighbour(2), SMS_FROM[0], "2")
    assert rig.statuses(incident_id, neighbour(2), "sms")[0] == LegStatus.DECLINED
    assert "无法前往" in answer


def test_reply_with_several_open_incidents_goes_to_the_newest_and_says_so(rig: TwilioRig,
                                                                          emulator: Emulator) -> None:
    older = _alerting_with_sms(rig, emulator, neighbour(1), CALLER)
    newer = _alerting_with_sms(rig, emulator, neighbour(1), SECOND_CALLER)
    answer = emulator.inbound_sms(rig.url("/sms/inbound"), neighbour(1), SMS_FROM[0], "1")
    assert rig.statuses(newer, neighbour(1), "sms")[0] == LegStatus.ACKNOWLEDGED
    assert rig.statuses(older, neighbour(1), "sms")[0] == LegStatus.DELIVERED
    assert "李秀英" in answer and "2起" in answer


def test_reply_from_someone_not_alerted_changes_nothing(rig: TwilioRig, emulator: Emulator) -> None:
    incident_id = _alerting_with_sms(rig, emulator, neighbour(1))
    answer = emulator.inbound_sms(rig.url("/sms/inbound"), "+8613700000000", SMS_FROM[0], "1")
    assert "没有需要回复" in answer
    # Other legs keep reporting meanwhile; what a reply could change must not have changed.
    assert not [e for e in rig.timeline(incident_id) if e.kind in ("note", "acknowledged")]
    assert rig.status(incident_id) == IncidentStatus.ALERTING


def test_inbound_call_opens_the_incident_on_the_first_webhook(rig: TwilioRig, emulator: Emulator) -> None:
    first = emulator.inbound_call(rig.url("/voice/inbound"), CALLER, "+14155550300")[0]
    assert rig.store.open_incident_ids(), "no incident after the first webhook"
    incident_id = rig.store.open_incident_ids()[0]
    assert rig.store.incident_row(incident_id).caller == CALLER
    assert '<Say language="zh-CN">' in first and "已收到您的紧急求助" in first
    wait_for(lambda: emulator.created("call"), what="neighbours being called")


@pytest.mark.parametrize("verstat", ["", "TN-Validation-Passed-B", "TN-Validation-Passed-C",
                                     "TN-Validation-Failed-A", "No-TN-Validation"])
def test_a_caller_twilio_could_not_fully_attest_rings_nobody_until_released(rig: TwilioRig, emulator: Emulator,
                                                                          verstat: str) -> None:
    """Only STIR/SHAKEN full attestation verifies a number: anything else opens a held incident, the
    caller still hears the flow, and no neighbour is called or texted until an operator releases it."""
    first = emulator.inbound_call(rig.url("/voice/inbound"), CALLER, "+14155550300", stir_verstat=verstat)[0]
    assert "已收到您的紧急求助" in first
    incident_id = rig.store.open_incident_ids()[0]
    row = rig.store.incident_row(incident_id)
    assert (row.caller_trust, row.level, row.urgent) == ("unverified", -1, True)
    assert rig.store.legs(incident_id) == []
    rig.engine.release(incident_id, Actor("operator", "值班员"))
    wait_for(lambda: emulator.created("call"), what="neighbours called after the release")


def test_a_fully_attested_caller_is_alerted_at_once(rig: TwilioRig, emulator: Emulator) -> None:
    emulator.inbound_call(rig.url("/voice/inbound"), CALLER, "+14155550300")  # TN-Validation-Passed-A
    incident_id = rig.store.open_incident_ids()[0]
    assert rig.store.incident_row(incident_id).caller_trust == "attested"
    wait_for(lambda: emulator.created("call"), what="neighbours being called")


def test_inbound_call_key_sets_the_emergency_type(rig: TwilioRig, emulator: Emulator) -> None:
    documents = emulator.inbound_call(rig.url("/voice/inbound"), CALLER, "+14155550300", keys=["1"])
    incident_id = rig.store.open_incident_ids()[0]
    assert str(rig.store.incident_row(incident_id).emergency_type) == "fire"
    assert "已记录" in documents[1] and "邻居正在赶来" in documents[1]  # the flow goes on to reassure


def test_inbound_call_nine_twice_cancels_the_incident(rig: TwilioRig, emulator: Emulator) -> None:
    documents = emulator.inbound_call(rig.url("/voice/inbound"), CALLER, "+14155550300", keys=["9", "9"])
    incident_id = rig.store.incidents(status="cancelled")[0].id
    assert "求助已取消" in documents[2] and "<Hangup" in documents[2]
    assert str(rig.store.incident_row(incident_id).status) == "cancelled"


def test_silent_inbound_call_is_noted_and_recorded_for_operators(rig: TwilioRig, emulator: Emulator) -> None:
    documents = emulator.inbound_call(rig.url("/voice/inbound"), CALLER, "+14155550300", keys=["", ""])
    incident_id = rig.store.open_incident_ids()[0]
    assert any("无声来电" in note for note in rig.notes(incident_id))
    assert "<Record" in documents[-1]
    assert str(rig.store.incident_row(incident_id).status) == "alerting"  # the alerts go on regardless


def test_unknown_inbound_caller_still_opens_an_urgent_incident(rig: TwilioRig, emulator: Emulator) -> None:
    emulator.inbound_call(rig.url("/voice/inbound"), "+8613811112222", "+14155550300")
    incident_id = rig.store.open_incident_ids()[0]
    assert rig.store.incident_row(incident_id).urgent


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl"])
def test_bad_or_missing_signature_is_refused_and_changes_nothing(rig: TwilioRig, emulator: Emulator,
                                                                 signature: str) -> None:
    incident_id = _alerting_with_sms(rig, emulator, GRID_WORKER)
    leg = rig.legs(incident_id, GRID_WORKER, "sms")[0]
    before = rig.statuses(incident_id, GRID_WORKER, "sms")
    forged = {
        f"/sms/status?leg={leg.id}": {"MessageSid": "SMx", "MessageStatus": "failed"},
        "/sms/inbound": {"From": GRID_WORKER, "To": SMS_FROM[0], "Body": "1"},
        "/voice/inbound": {"From": "+867176100009", "To": "+14155550300", "CallStatus": "ringing"},
    }
    for path, params in forged.items():
        response = emulator.post_webhook(rig.url(path), params, signature=signature)
        assert response.status_code == 403, path
    assert rig.statuses(incident_id, GRID_WORKER, "sms") == before
    assert not [e for e in rig.timeline(incident_id) if e.kind in ("note", "acknowledged") or "SMx" in str(e.data)]
    assert rig.store.open_incident_ids() == [incident_id]


def test_signature_for_another_url_is_refused(rig: TwilioRig, emulator: Emulator) -> None:
    params = {"From": CALLER, "To": "+14155550300"}
    signature = emulator.sign(rig.url("/sms/inbound"), params)
    response = emulator.post_webhook(rig.url("/voice/inbound"), params, signature=signature)
    assert response.status_code == 403
    assert rig.store.open_incident_ids() == []


def test_signature_with_a_changed_field_is_refused(rig: TwilioRig, emulator: Emulator) -> None:
    url = rig.url("/voice/inbound")
    signature = emulator.sign(url, {"From": CALLER, "To": "+14155550300"})
    response = emulator.post_webhook(url, {"From": SECOND_CALLER, "To": "+14155550300"}, signature=signature)
    assert response.status_code == 403
    assert rig.store.open_incident_ids() == []


def test_callback_for_an_unknown_leg_is_accepted_and_ignored(rig: TwilioRig, emulator: Emulator) -> None:
    response = emulator.post_webhook(rig.url("/voice/status?leg=nope/x/call/alert/1"),
                                     {"CallSid": "CA1", "CallStatus": "busy"})
    assert response.status_code == 204


def test_no_name_address_or_sms_text_reaches_the_log(rig: TwilioRig, emulator: Emulator,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """A whole incident through Twilio, every logger at DEBUG: texts go out naming the household and
    its address, neighbours answer in words, a stranger writes in; none of it is in the log."""
    reply, stranger = "我马上到，带着灭火器", "我家着火了，快来人"
    with caplog.at_level(logging.DEBUG):
        incident_id = _alerting_with_sms(rig, emulator, neighbour(1))
        emulator.inbound_sms(rig.url("/sms/inbound"), neighbour(1), SMS_FROM[0], reply)
        emulator.inbound_sms(rig.url("/sms/inbound"), "+8613700000000", SMS_FROM[0], stranger)
        sent = emulator.created("sms", neighbour(1))
    assert sent and "张桂兰" in sent[0].body and "张家村三组1号" in sent[0].body  # what the log must not hold
    assert any(reply in note for note in rig.notes(incident_id))
    logged = caplog.text
    assert len(caplog.records) > 20  # the flow was logged, just not its private parts
    for private in ("张桂兰", "张家村三组1号", reply, stranger, sent[0].body):
        assert private not in logged, private

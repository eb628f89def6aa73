"""Aliyun SMS and Tencent Cloud SMS through their official SDKs against the local emulators, wired by the
composition root into the real incident engine: delivery, failed reports and redials, replies, failover,
throttling, signatures, the fallback poll."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.domain.types import LegStatus
from tests.cnsms_emulator import AliyunEmulator, TencentEmulator
from tests.integration.cnsms.rig import CloudRig, cloud_rig
from tests.integration.twilio.rig import GRID_WORKER, SECOND_CALLER, neighbour
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(90)
PHONES = [neighbour(1), neighbour(2), neighbour(3), GRID_WORKER]


def test_an_incidents_sms_legs_are_delivered_through_aliyun(rig: CloudRig) -> None:
    incident = rig.press()
    wait_for(lambda: all(rig.statuses(incident.id, p) == ["delivered"] for p in PHONES), what="every SMS delivered")
    for phone in PHONES:
        [message] = rig.aliyun.sent_to(phone)  # once each, through the first provider only
        assert message.text.startswith("【九九五一键通】") and "按下紧急键" in message.text
        assert message.context == rig.sms_legs(incident.id, phone)[0].id  # OutId: our leg
        assert rig.sms_legs(incident.id, phone)[0].provider_ref == f"aliyun:{message.ref}"
    assert rig.tencent.messages == []


def test_a_failed_report_marks_the_leg_undelivered_and_the_engine_texts_again(rig: CloudRig) -> None:
    rig.aliyun.script(neighbour(1), "undelivered:MK:0005", "delivered")
    incident = rig.press()
    wait_for(lambda: rig.statuses(incident.id, neighbour(1)) == ["undelivered", "delivered"],
             what="the failed text redialled (after 1 s in the test policy) and delivered")
    first = rig.sms_legs(incident.id, neighbour(1))[0]
    assert first.detail == "undelivered: switched_off (MK:0005)"
    assert len(rig.aliyun.sent_to(neighbour(1))) == 2


def test_a_reply_acknowledges_exactly_once_whoever_pushes_it_and_however_often(rig: CloudRig) -> None:
    incident = rig.press()
    wait_for(lambda: rig.statuses(incident.id, neighbour(1)) == ["delivered"], what="the alert delivered")
    assert rig.aliyun.inject_reply(neighbour(1), "到", sequence_id=7001) == 200
    assert rig.aliyun.inject_reply(neighbour(1), "到", sequence_id=7001) == 200  # Aliyun pushing again
    assert rig.tencent.inject_reply(neighbour(1), "到") == 200  # the same person through the other provider
    wait_for(lambda: rig.statuses(incident.id, neighbour(1)) == ["acknowledged"], what="the reply acknowledged")
    timeline = list(rig.container.incident_store.timeline(incident.id))
    acks = [e for e in timeline
            if e.kind == "acknowledged" or (e.kind == "leg" and e.data.get("status") == "acknowledged")]
    assert len(acks) == 1, [e.kind for e in timeline]
    row = rig.container.incident_store.incident_row(incident.id)
    assert str(row.status) != "acknowledged"  # one neighbour of a quorum of two


def test_an_aliyun_outage_moves_new_messages_to_tencent(rig: CloudRig) -> None:
    rig.aliyun.fail_next(10_000)  # every request answered 503 ServiceUnavailable: provably not taken
    incident = rig.press()
    wait_for(lambda: all(rig.statuses(incident.id, p) == ["delivered"] for p in PHONES), what="delivered via Tencent")
    for phone in PHONES:
        assert rig.sms_legs(incident.id, phone)[0].provider_ref.startswith("tencent:")
        assert len(rig.tencent.sent_to(phone)) == 1
        assert rig.aliyun.sent_to(phone) == []
    notes = [e.data.get("text", "") for e in rig.container.incident_store.timeline(incident.id) if e.kind == "note"]
    assert any("由aliyun改走tencent" in note for note in notes)


def test_an_aliyun_that_stopped_answering_at_all_moves_them_too(rig: CloudRig) -> None:
    rig.aliyun.stop()  # connection refused: the request never left
    incident = rig.press()
    wait_for(lambda: all(rig.statuses(incident.id, p) == ["delivered"] for p in PHONES), what="delivered via Tencent")
    assert all(len(rig.tencent.sent_to(p)) == 1 for p in PHONES)


def test_a_throttled_number_goes_through_the_next_provider(rig: CloudRig) -> None:
    rig.aliyun.throttle(neighbour(2))  # isv.BUSINESS_LIMIT_CONTROL for this number
    incident = rig.press()
    wait_for(lambda: all(rig.statuses(incident.id, p) == ["delivered"] for p in PHONES), what="all delivered")
    assert rig.sms_legs(incident.id, neighbour(2))[0].provider_ref.startswith("tencent:")
    assert rig.aliyun.sent_to(neighbour(2)) == [] and len(rig.tencent.sent_to(neighbour(2))) == 1
    assert rig.sms_legs(incident.id, neighbour(1))[0].provider_ref.startswith("aliyun:")


def test_the_fallback_poll_settles_legs_whose_report_never_came(rig: CloudRig) -> None:
    rig.aliyun.script(neighbour(1), "silent")  # delivered, but never pushed: QuerySendDetails tells
    rig.aliyun.script(neighbour(2), "silent")
    rig.aliyun.stop_reporting()
    incident = rig.press()
    wait_for(lambda: all(rig.statuses(incident.id, p) == ["delivered"] for p in PHONES), what="settled by the poll")
    assert not [push for push in rig.aliyun.pushes if "/report" in push[0]]
    assert any(action == "QuerySendDetails" for action, _ in rig.aliyun.requests)


def test_a_send_whose_answer_never_came_is_not_sent_again_elsewhere(rig: CloudRig) -> None:
    rig.aliyun.script(neighbour(1), "slow")  # taken, but answered after the SDK gave up
    incident = rig.press()
    wait_for(lambda: rig.statuses(incident.id, neighbour(1)) == ["delivered"], what="settled by report or poll")
    assert len(rig.aliyun.sent_to(neighbour(1))) == 1 and rig.tencent.sent_to(neighbour(1)) == []
    assert rig.sms_legs(incident.id, neighbour(1))[0].provider_ref.startswith("aliyun:")


@pytest.mark.parametrize("provider", ["aliyun", "tencent"])
def test_a_wrong_secret_is_refused_by_the_emulator_and_the_other_provider_takes_over(
        provider: str, sqlite_url: str, tmp_path: Path, aliyun: AliyunEmulator, tencent: TencentEmulator) -> None:
    """The emulator recomputes the SDK's signature with the configured secret: a wrong one never sends."""
    wrong = {"aliyun_sms": {"access_key_secret": "not-the-secret-" + "x" * 20}} if provider == "aliyun" else \
        {"tencent_sms": {"secret_key": "not-the-key-" + "x" * 20}}
    order = ("aliyun", "tencent") if provider == "aliyun" else ("tencent", "aliyun")
    with cloud_rig(sqlite_url, tmp_path, aliyun, tencent, sms_channel=provider, sms_routes=order, **wrong) as rig:
        incident = rig.press()
        wait_for(lambda: all(rig.statuses(incident.id, p) == ["delivered"] for p in PHONES), what="delivered")
        refused, other = (rig.aliyun, rig.tencent) if provider == "aliyun" else (rig.tencent, rig.aliyun)
        signature = "SignatureDoesNotMatch" if provider == "aliyun" else "AuthFailure.SignatureFailure"
        assert refused.messages == [] and signature in refused.errors
        assert all(len(other.sent_to(p)) == 1 for p in PHONES)


def test_tencent_delivers_fails_and_its_pull_settles_what_was_not_pushed(
        sqlite_url: str, tmp_path: Path, aliyun: AliyunEmulator, tencent: TencentEmulator) -> None:
    tencent.script(neighbour(1), "undelivered:MN:0001")
    tencent.script(neighbour(2), "silent")  # PullSmsSendStatus tells
    with cloud_rig(sqlite_url, tmp_path, aliyun, tencent, sms_channel="tencent", sms_routes=("tencent",),
                   aliyun_sms={"enabled": False}) as rig:
        incident = rig.press()
        wait_for(lambda: rig.statuses(incident.id, neighbour(2)) == ["delivered"]
                 and rig.statuses(incident.id, GRID_WORKER) == ["delivered"]
                 and rig.statuses(incident.id, neighbour(1))[:1] == ["undelivered"], what="Tencent's reports")
        assert rig.sms_legs(incident.id, neighbour(1))[0].detail == "undelivered: invalid_number (MN:0001)"
        assert all(ref.startswith("tencent:") for ref in
                   (rig.sms_legs(incident.id, p)[0].provider_ref for p in PHONES))
        assert rig.aliyun.messages == []
        assert LegStatus.ACKNOWLEDGED not in [r.status for r in rig.sms_legs(incident.id, neighbour(2))]


def test_an_aliyun_that_stopped_reporting_is_marked_down_and_new_texts_go_to_tencent(
        sqlite_url: str, tmp_path: Path, aliyun: AliyunEmulator, tencent: TencentEmulator) -> None:
    for phone in PHONES:
        aliyun.script(phone, "lost")  # accepted, never reported, never settled by the poll either
    with cloud_rig(sqlite_url, tmp_path, aliyun, tencent,
                   aliyun_sms={"report_silence_seconds": 1.0, "report_wait_seconds": 0.5}) as rig:
        first = rig.press()
        wait_for(lambda: all(rig.statuses(first.id, p) == ["submitted"] for p in PHONES), what="taken by Aliyun")
        wait_for(lambda: not rig.container.channel_packages["aliyun"].path.is_healthy(), what="Aliyun silent")
        second = rig.press(SECOND_CALLER)
        wait_for(lambda: all(rig.statuses(second.id, p) == ["delivered"] for p in PHONES), what="second via Tencent")
        assert all(rig.sms_legs(second.id, p)[0].provider_ref.startswith("tencent:") for p in PHONES)
        assert all(len(rig.aliyun.sent_to(p)) == 1 for p in PHONES)  # the first press's only

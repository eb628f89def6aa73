"""Attacks on the Aliyun and Tencent push endpoints, which the providers do not sign: a wrong token, a source
outside the configured networks, forged and replayed reports, a reply from someone the incident never
alerted. None of them changes a leg or acknowledges anything (docs/security.md)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.cnsms_emulator import AliyunEmulator, TencentEmulator
from tests.integration.cnsms.rig import CloudRig, cloud_rig
from tests.integration.twilio.rig import GRID_WORKER, neighbour
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(90)


def _delivered_leg(rig: CloudRig, phone: str = neighbour(1)) -> tuple[str, str]:
    """An incident whose alert to ``phone`` is delivered; (incident id, Aliyun BizId of that text)."""
    rig.aliyun.script(phone, "lost")  # accepted, never reported: the leg stays SUBMITTED for the attacker
    incident = rig.press()
    wait_for(lambda: rig.statuses(incident.id, phone) == ["submitted"], what="the text accepted")
    return incident.id, rig.aliyun.sent_to(phone)[0].ref


def _report(biz_id: str, out_id: str, success: bool = True, code: str = "DELIVERED") -> list[dict[str, object]]:
    return [{"phone_number": neighbour(1)[3:], "send_time": "2026-01-01 10:00:00", "report_time": "2026-01-01 10:00:05",
             "success": success, "err_code": code, "err_msg": "", "sms_size": "1", "biz_id": biz_id, "out_id": out_id}]


def test_a_push_with_a_wrong_token_is_not_found_and_changes_nothing(rig: CloudRig) -> None:
    incident_id, biz_id = _delivered_leg(rig)
    leg = rig.sms_legs(incident_id, neighbour(1))[0].id
    for token in ("guessed", "aliyun-push-token-" + "b" * 20):
        url = rig.url("aliyun", "report", token=token)
        assert httpx.post(url, json=_report(biz_id, leg)).status_code == 404
    reply = [{"phone_number": neighbour(1)[3:], "content": "1", "sequence_id": 1}]
    assert httpx.post(rig.url("aliyun", "reply", token="x" * 38), json=reply).status_code == 404
    assert httpx.post(rig.url("tencent", "reply", token="guessed"),
                      json={"mobile": neighbour(1)[3:], "nationcode": "86", "text": "1", "time": 1}).status_code == 404
    assert rig.statuses(incident_id, neighbour(1)) == ["submitted"]


def test_a_report_for_a_message_we_never_sent_or_for_another_leg_changes_nothing(rig: CloudRig) -> None:
    incident_id, biz_id = _delivered_leg(rig)
    leg = rig.sms_legs(incident_id, neighbour(1))[0].id
    other_leg = rig.sms_legs(incident_id, neighbour(2))[0].id
    assert httpx.post(rig.url("aliyun", "report"), json=_report("123456^0", leg, False, "MK:0005")).status_code == 200
    assert httpx.post(rig.url("aliyun", "report"), json=_report(biz_id, other_leg, False, "MK:0005")).status_code == 200
    assert httpx.post(rig.url("aliyun", "report"), json=[{"biz": "no"}]).status_code == 400
    assert rig.statuses(incident_id, neighbour(1)) == ["submitted"]


def test_a_replayed_report_is_recorded_once(rig: CloudRig) -> None:
    incident_id, biz_id = _delivered_leg(rig)
    leg = rig.sms_legs(incident_id, neighbour(1))[0].id
    for _ in range(3):
        assert httpx.post(rig.url("aliyun", "report"), json=_report(biz_id, leg)).json() == {"code": 0, "msg": "成功"}
    wait_for(lambda: rig.statuses(incident_id, neighbour(1)) == ["delivered"], what="the report recorded")
    assert rig.sms_legs(incident_id, neighbour(1))[0].detail == "aliyun DELIVERED"
    # That the copies never reach the engine is the ledger's (tests/unit/test_cloud_sms.py).


def test_a_reply_from_a_number_the_incident_never_alerted_acknowledges_nothing(rig: CloudRig) -> None:
    incident = rig.press()
    alerted = (neighbour(1), neighbour(2), GRID_WORKER)
    wait_for(lambda: all(rig.statuses(incident.id, p) == ["delivered"] for p in alerted),
             what="every alert delivered")  # each report on its own: under load some come later
    assert rig.aliyun.inject_reply("+8613700000999", "1") == 200
    assert rig.tencent.inject_reply("+8613700000999", "到") == 200
    assert all(rig.statuses(incident.id, p) == ["delivered"] for p in alerted)
    row = rig.container.incident_store.incident_row(incident.id)
    assert str(row.status) not in ("acknowledged", "resolved")


def test_pushes_from_outside_the_configured_sources_are_refused(
        sqlite_url: str, tmp_path: Path, aliyun: AliyunEmulator, tencent: TencentEmulator) -> None:
    with cloud_rig(sqlite_url, tmp_path, aliyun, tencent, aliyun_sms={"push_sources": ["203.0.113.0/24"]}) as rig:
        incident = rig.press()
        wait_for(lambda: rig.aliyun.pushes and all(status == 403 for _, status in rig.aliyun.pushes),
                 what="the pushes refused")
        assert rig.aliyun.inject_reply(neighbour(1), "1") == 403
        # The poll still settles what the refused pushes would have said.
        wait_for(lambda: rig.statuses(incident.id, neighbour(1)) == ["delivered"], what="settled by the poll")

"""The composition root with Twilio enabled: channels, router and webhooks from settings alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from callcenter.api.app import create_app
from callcenter.bootstrap import Container, build
from callcenter.domain.types import CallerTrust, LegStatus
from callcenter.settings import load_settings
from tests.integration.twilio.rig import CALL_FROM, CALLER, SMS_FROM, LateApp, group_directory, neighbour
from tests.twilio_emulator import Emulator, ServerThread
from tests.waiting import wait_for


@pytest.fixture
def served(database_url: str, tmp_path: Path, emulator: Emulator) -> Iterator[tuple[Container, ServerThread]]:
    late = LateApp()
    server = ServerThread(late)
    settings = load_settings(
        database_url=database_url, data_dir=tmp_path, http={"public_base_url": server.base_url},
        engine={"call_channel": "twilio", "sms_channel": "twilio"},
        twilio={"enabled": True, "account_sid": emulator.account_sid, "auth_token": emulator.auth_token,
                "api_base_url": emulator.base_url, "call_from": CALL_FROM, "sms_from": SMS_FROM,
                "calls_per_second_per_account": 10, "calls_per_second_per_number": 10,
                "sms_per_second_per_number": 10, "sms_per_second_per_account": 10},
    )
    container = build(settings)
    container.init_db()
    container.directory = group_directory(2)  # type: ignore[assignment]
    late.app = create_app(container)
    server.start()
    container.runtime.start()
    yield container, server
    server.stop()
    container.close()


def test_press_goes_out_through_twilio_and_callbacks_come_back(served: tuple[Container, ServerThread],
                                                              emulator: Emulator) -> None:
    container, _ = served
    incident = container.runtime.engine.key_press(CALLER, CallerTrust.LOCAL)
    store = container.incident_store

    def first_call_status() -> str:
        rows = [r for r in store.legs(incident.id) if r.recipient_phone == neighbour(1) and r.channel == "call"]
        return str(rows[0].status) if rows else ""

    wait_for(lambda: first_call_status() == LegStatus.ACKNOWLEDGED, what="acknowledged through the webhooks")
    assert emulator.created("sms", neighbour(1))


def test_router_is_mounted_and_refuses_unsigned_requests(served: tuple[Container, ServerThread],
                                                        emulator: Emulator) -> None:
    _, server = served
    response = emulator.post_webhook(f"{server.base_url}/twilio/voice/inbound", {"From": CALLER}, signature="")
    assert response.status_code == 403
    assert served[0].incident_store.open_incident_ids() == []


def test_a_key_pressed_on_a_twilio_call_counts_while_the_call_is_still_up(
        served: tuple[Container, ServerThread], emulator: Emulator) -> None:
    """The Gather action stores 1 at once; the quorum (2 of the shipped policy) is met while both
    neighbours still listen to the thanks, read through the operators' API. Twilio's "completed"
    afterwards changes nothing and leaves nothing on the timeline."""
    container, server = served
    container.accounts.add_user("duty", "operator", "duty-operator-995", None)
    emulator.hang_up_gate = threading.Event()
    for i in (1, 2):
        emulator.script(neighbour(i), "answer+1")
    with httpx.Client(base_url=server.base_url, timeout=5) as operator:
        assert operator.post("/api/session", json={"name": "duty", "password": "duty-operator-995"}).is_success
        incident = container.runtime.engine.key_press(CALLER, CallerTrust.LOCAL)
        calls = [wait_for(lambda i=i: emulator.created("call", neighbour(i)), what=f"call {i}")[0] for i in (1, 2)]
        wait_for(lambda: all(len(call.twiml) == 2 for call in calls), what="both keys pressed")

        def detail() -> dict[str, Any]:
            return dict(operator.get(f"/api/incidents/{incident.id}").json())
        seen = wait_for(lambda: (d := detail())["incident"]["status"] == "acknowledged" and d, what="the quorum")
        assert [call.status for call in calls] == ["in-progress", "in-progress"]  # both still listening
        acknowledged = [leg for leg in seen["legs"] if leg["channel"] == "call" and leg["status"] == "acknowledged"]
        assert len(acknowledged) == 2 and all(leg["detail"] == "key 1" for leg in acknowledged)

        emulator.hang_up_gate.set()
        wait_for(lambda: all(call.status == "completed" and call.answered_callbacks == len(call.callbacks)
                             for call in calls), what="the calls ended and Twilio told us so")
        after = detail()
        assert [leg["status"] for leg in after["legs"] if leg["channel"] == "call"] == ["acknowledged"] * 2
        assert "outcome_ignored" not in [event["kind"] for event in after["timeline"]]

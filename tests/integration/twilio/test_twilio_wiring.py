"""The composition root with Twilio enabled: channels, router and webhooks from settings alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from callcenter.api.app import create_app
from callcenter.bootstrap import Container, build
from callcenter.domain.types import LegStatus
from callcenter.settings import load_settings
from tests.integration.twilio.rig import CALL_FROM, CALLER, SMS_FROM, GroupDirectory, LateApp, neighbour
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
    container.directory = GroupDirectory(2)  # type: ignore[assignment]
    late.app = create_app(container)
    server.start()
    container.runtime.start()
    yield container, server
    server.stop()
    container.close()


def test_press_goes_out_through_twilio_and_callbacks_come_back(served: tuple[Container, ServerThread],
                                                              emulator: Emulator) -> None:
    container, _ = served
    incident = container.runtime.engine.key_press(CALLER)
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

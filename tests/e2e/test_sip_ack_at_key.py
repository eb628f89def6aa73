"""A neighbour's "1" counts when it is pressed, not when the call ends.

The service is built as `callcenter serve` builds it (the composition root, the shipped alert flow and
escalation policy, the SIP channel through Kamailio). Three sipp neighbours answer, press 1 after 1.5 s
and keep listening to the thanks ("谢谢！已通知户主。" and the address again, about 13 s) until the service hangs up.
While every one of them is still on the line, the operators' API already shows their legs acknowledged
and the incident's quorum met. Before the fix the key reached the incident only at the hang-up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sip.harness import Kamailio, Sipp, free_udp_range, register_contact

from callcenter.api.app import create_app
from callcenter.bootstrap import ConsoleContainer, build
from callcenter.db.roster_store import RosterStore
from callcenter.settings import load_settings
from contacts.demo import generate_roster, scale_for_households

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]
HOUSEHOLD_LINE = "2001"  # the first demo household; its joint-defense group's contacts are 3009..3025
LISTENING = ("3009", "3010", "3011")  # answer, press 1 after 1.5 s, listen until the service hangs up
PASSWORD = "duty-operator-995"


@pytest.fixture
def registrar(tmp_path: Path) -> Iterator[Kamailio]:
    kamailio = Kamailio(tmp_path / "kamailio").start()
    yield kamailio
    kamailio.stop()


@pytest.fixture
def service(tmp_path: Path, registrar: Kamailio) -> Iterator[ConsoleContainer]:
    low, high = free_udp_range(128)  # an RTP and an RTCP port per call
    settings = load_settings(
        data_dir=tmp_path / "data",
        engine={"call_channel": "sip"},  # the shipped escalation policy: quorum of 2
        sip={"registrar_port": registrar.port, "sip_port": 0, "rtp_port_low": low, "rtp_port_high": high,
             "ring_timeout": 20.0, "max_channels": 30},
    )
    container = build(settings)
    container.init_db()
    roster = generate_roster(scale_for_households(10, 1.0), 7, settings.directory.max_group_responders)
    RosterStore(container.engine, settings.directory.phone_policy(), settings.directory.max_group_responders).apply(
        roster)
    container.accounts.add_user("duty", "operator", PASSWORD, None)
    container.runtime.start()
    assert container.sip_service.phone.wait_registered(10)
    yield container
    container.close()


@pytest.fixture
def operator(service: ConsoleContainer) -> Iterator[TestClient]:
    with TestClient(create_app(service)) as client:
        response = client.post("/api/session", json={"name": "duty", "password": PASSWORD})
        assert response.status_code == 200, response.text
        yield client


def _detail(operator: TestClient) -> dict[str, Any] | None:
    listed = operator.get("/api/incidents").json()["items"]
    if not listed:
        return None
    response = operator.get(f"/api/incidents/{listed[0]['id']}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _acknowledged_by_key(detail: dict[str, Any]) -> list[dict[str, Any]]:
    return [leg for leg in detail["legs"] if leg["channel"] == "call" and leg["status"] == "acknowledged"]


def test_acknowledgements_and_the_quorum_show_while_the_neighbours_are_still_on_the_line(
    service: ConsoleContainer, registrar: Kamailio, operator: TestClient, tmp_path: Path
) -> None:
    work = tmp_path / "sipp"
    phones = {number: Sipp("responder_press_1_listens", work) for number in LISTENING}
    for number, sipp in phones.items():
        sipp.start()
        register_contact(registrar.port, number, sipp.port)
    household = Sipp("household_call", work, remote_port=registrar.port, keys={"household": HOUSEHOLD_LINE},
                     extra=["-recv_timeout", "3000"])
    try:
        assert household.run(timeout=30) == 0, household.errors()
        deadline, seen = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            detail = _detail(operator)
            if detail is not None and len(_acknowledged_by_key(detail)) == len(LISTENING):
                seen = detail
                break
            time.sleep(0.2)
        # Every phone is still waiting for the service's BYE: the thanks is still being spoken.
        still_up = [number for number, sipp in phones.items() if sipp.process and sipp.process.poll() is None]
        assert seen is not None, _detail(operator)
        assert still_up == list(LISTENING), "the keys were stored only when the calls ended"
        assert seen["incident"]["status"] == "acknowledged", seen["incident"]  # quorum 2 met, calls still up
        assert {leg["detail"] for leg in _acknowledged_by_key(seen)} == {"pressed 1"}
        assert "quorum_met" in [event["kind"] for event in seen["timeline"]]

        for sipp in phones.values():  # then the service hangs up each call after its thanks
            assert sipp.wait(timeout=60) == 0, sipp.errors()
        after = _detail(operator)
        assert after is not None and len(_acknowledged_by_key(after)) == len(LISTENING)
        assert "outcome_ignored" not in [event["kind"] for event in after["timeline"]]
    finally:
        for sipp in [*phones.values(), household]:
            sipp.stop()

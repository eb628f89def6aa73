"""Incidents API on SQLite and PostgreSQL: list, filters, paging, detail, every operator action and
its audit record, grid scoping, and the live event stream."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from callcenter.bootstrap import ConsoleContainer
from callcenter.domain.incident import IncidentEvent
from callcenter.domain.types import Actor, CallerTrust, EmergencyType, LegStatus
from tests.integration.console.conftest import GRID_A, GRID_B, HOUSEHOLD_A, LINE_A, LINE_B, NEIGHBOUR_KEY

pytestmark = pytest.mark.slow  # started first (tests/conftest.py): one of the longest files

Clients = Callable[[str | None], TestClient]


def test_list_filters_and_pages(console: ConsoleContainer, client_for: Clients) -> None:
    engine = console.runtime.engine
    a = engine.key_press(LINE_A, CallerTrust.LOCAL)
    b = engine.key_press(LINE_B, CallerTrust.LOCAL)
    unknown = engine.key_press("13912345678", CallerTrust.LOCAL)
    engine.set_type(b.id, EmergencyType.FIRE, Actor("operator", "test"))
    client = client_for("operator")

    everything = client.get("/api/incidents").json()
    assert everything["total"] == 3
    assert {i["id"] for i in everything["items"]} == {a.id, b.id, unknown.id}
    assert [i["id"] for i in client.get("/api/incidents?type=fire").json()["items"]] == [b.id]
    assert [i["id"] for i in client.get(f"/api/incidents?grid={GRID_B}").json()["items"]] == [b.id]
    page = client.get("/api/incidents?limit=2&offset=2").json()
    assert (page["total"], len(page["items"])) == (3, 1)
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert client.get("/api/incidents", params={"since": later}).json()["total"] == 0
    assert client.get("/api/incidents?level=0&status=alerting").json()["total"] == 3
    assert client.get("/api/incidents?status=resolved").json()["total"] == 0
    assert client.get("/api/incidents?type=volcano").status_code == 422


def test_queue_puts_unknown_callers_first(console: ConsoleContainer, client_for: Clients) -> None:
    engine = console.runtime.engine
    engine.key_press(LINE_A, CallerTrust.LOCAL)
    unknown = engine.key_press("13912345678", CallerTrust.LOCAL)
    items = client_for("operator").get("/api/incidents?open=true&order=queue").json()["items"]
    assert items[0]["id"] == unknown.id
    assert items[0]["attention"] and items[0]["unknown_caller"]
    assert not items[1]["attention"]


def test_detail_shows_household_first_responders_and_timeline(console: ConsoleContainer,
                                                               client_for: Clients) -> None:
    incident = console.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL)
    body = client_for("operator").get(f"/api/incidents/{incident.id}").json()
    assert body["household"]["household"]["id"] == HOUSEHOLD_A
    assert body["household"]["household"]["care_labels"] == ["独居老人"]
    assert body["incident"]["grid_id"] == GRID_A
    names = [r["name"] for r in body["responders"]]
    assert "王二" in names and "网格员刘" in names
    neighbour = next(r for r in body["responders"] if r["key"] == NEIGHBOUR_KEY)
    assert {leg["channel"] for leg in neighbour["legs"]} == {"call", "sms"}
    assert body["timeline"][0]["kind"] == "opened"


def test_operator_actions_land_in_timeline_and_audit(console: ConsoleContainer, client_for: Clients) -> None:
    incident = console.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL)
    client = client_for("operator")
    url = f"/api/incidents/{incident.id}"

    acked = client.post(f"{url}/acknowledge", json={"recipient_key": NEIGHBOUR_KEY}).json()
    assert acked["incident"]["acks"] == 1
    assert next(r for r in acked["responders"] if r["key"] == NEIGHBOUR_KEY)["acknowledged"]
    assert client.post(f"{url}/type", json={"emergency_type": "medical"}).json()["incident"]["emergency_type"] == \
        "medical"
    assert client.post(f"{url}/notes", json={"text": "邻居说老人摔倒"}).status_code == 200
    dispatched = client.post(f"{url}/dispatch", json={"agency": "120", "reference": "JJ-0042"}).json()
    dispatch = next(e for e in dispatched["timeline"] if e["kind"] == "dispatch")
    assert dispatch["data"]["agency"] == "120" and dispatch["data"]["reference"] == "JJ-0042"
    assert dispatch["actor"] == "operator:operator"
    called = client.post(f"{url}/call-back").json()
    assert called["household_line"] == LINE_A and called["reference"].startswith("simulated-callback-")
    resolved = client.post(f"{url}/resolve", json={"note": "已送医"}).json()
    assert resolved["incident"]["status"] == "resolved"

    kinds = [e["kind"] for e in resolved["timeline"]]
    for kind in ("acknowledged", "type_set", "note", "dispatch", "call_back", "resolved"):
        assert kind in kinds, kind
    audit = client_for("admin").get("/api/audit", params={"target": f"incident:{incident.id}"}).json()
    actions = [a["action"] for a in audit]
    assert set(actions) >= {"acknowledge_on_behalf", "set_type", "add_note", "record_dispatch", "call_back",
                            "resolve"}
    resolve = next(a for a in audit if a["action"] == "resolve")
    assert (resolve["user_name"], resolve["before"]["status"], resolve["after"]["status"]) == \
        ("operator", "alerting", "resolved")


def test_closed_incident_refuses_actions_with_409(console: ConsoleContainer, client_for: Clients) -> None:
    incident = console.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL)
    client = client_for("operator")
    assert client.post(f"/api/incidents/{incident.id}/false-alarm").json()["incident"]["status"] == "false_alarm"
    response = client.post(f"/api/incidents/{incident.id}/resolve", json={})
    assert response.status_code == 409
    assert "false_alarm" in response.json()["detail"]
    assert client.post(f"/api/incidents/{incident.id}/acknowledge",
                       json={"recipient_key": "+8600000"}).status_code == 409


def test_bad_input_is_a_clear_error(console: ConsoleContainer, client_for: Clients) -> None:
    incident = console.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL)
    client = client_for("operator")
    url = f"/api/incidents/{incident.id}"
    assert client.post(f"{url}/dispatch", json={"agency": "911"}).status_code == 422
    assert client.post(f"{url}/notes", json={"text": ""}).status_code == 422
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    late = client.post(f"{url}/dispatch", json={"agency": "110", "at": future})
    assert late.status_code == 409 and "future" in late.json()["detail"]
    assert client.post(f"{url}/acknowledge", json={"recipient_key": "+8613811111111"}).status_code == 409
    assert client.get("/api/incidents/no-such-incident").status_code == 404


def test_grid_worker_sees_only_own_grid(console: ConsoleContainer, client_for: Clients) -> None:
    engine = console.runtime.engine
    own = engine.key_press(LINE_A, CallerTrust.LOCAL)
    other = engine.key_press(LINE_B, CallerTrust.LOCAL)
    unknown = engine.key_press("13912345678", CallerTrust.LOCAL)
    worker = client_for("grid_worker")
    assert [i["id"] for i in worker.get("/api/incidents").json()["items"]] == [own.id]
    assert worker.get(f"/api/incidents/{other.id}").status_code == 404
    assert worker.get(f"/api/incidents/{unknown.id}").status_code == 404
    assert worker.post(f"/api/incidents/{other.id}/notes", json={"text": "x"}).status_code == 404
    assert worker.get(f"/api/incidents?grid={GRID_B}").status_code == 403
    assert worker.post(f"/api/incidents/{own.id}/notes", json={"text": "我马上到"}).status_code == 200


def test_voice_message_is_served_when_the_ivr_recorded_one(console: ConsoleContainer, client_for: Clients,
                                                           tmp_path: Path) -> None:
    recording = tmp_path / "message.wav"
    recording.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    incident = console.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL)
    console.incident_store.append_events(incident.id, [
        IncidentEvent(datetime.now(UTC), "voice_message", "ivr", {"path": str(recording)})])
    client = client_for("operator")
    detail = client.get(f"/api/incidents/{incident.id}").json()
    assert [v["url"] for v in detail["voice_messages"]] == [f"/api/incidents/{incident.id}/voice/0"]
    audio = client.get(detail["voice_messages"][0]["url"])
    assert audio.status_code == 200 and audio.content == recording.read_bytes()
    assert client.get(f"/api/incidents/{incident.id}/voice/1").status_code == 404


def test_event_stream_carries_a_new_incident(console: ConsoleContainer, client_for: Clients) -> None:
    client = client_for("operator")
    pressed: list[str] = []
    timer = threading.Timer(0.5, lambda: pressed.append(console.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL).id))
    timer.start()
    body = client.get("/api/events?lifetime=2").text
    timer.join(5)
    assert pressed, "the key press did not happen"
    assert f'"incident_id": "{pressed[0]}"' in body
    assert '"kind": "opened"' in body


def sse_events(body: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]


def test_an_opened_event_carries_the_queue_row_the_list_would_show(console: ConsoleContainer,
                                                                    client_for: Clients) -> None:
    client = client_for("operator")
    pressed: list[str] = []
    timer = threading.Timer(0.5, lambda: pressed.append(console.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL).id))
    timer.start()
    events = sse_events(client.get("/api/events?lifetime=2").text)
    timer.join(5)
    assert pressed, "the key press did not happen"
    opened = [e for e in events if e["incident_id"] == pressed[0] and e["kind"] == "opened"]
    assert len(opened) == 1
    listed = client.get("/api/incidents?open=true").json()["items"]
    assert opened[0]["summary"] == next(i for i in listed if i["id"] == pressed[0])
    assert opened[0]["summary"]["label"] == "张大山家"
    assert all("summary" not in e for e in events if e["kind"] != "opened")


def test_a_leg_status_event_names_the_leg_and_its_new_status(console: ConsoleContainer,
                                                            client_for: Clients) -> None:
    """A neighbour's "1" is on the operators' stream as such: which leg, acknowledged."""
    client = client_for("operator")
    acknowledged: list[str] = []

    def press_and_acknowledge() -> None:
        incident = console.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL)
        leg = next(leg for leg in incident.legs.values() if leg.recipient.phone == NEIGHBOUR_KEY
                   and leg.channel.value == "call")
        console.runtime.engine.leg_outcome(leg.id, LegStatus.ACKNOWLEDGED, "pressed 1")
        acknowledged.append(leg.id)

    timer = threading.Timer(0.5, press_and_acknowledge)
    timer.start()
    events = sse_events(client.get("/api/events?lifetime=2").text)
    timer.join(5)
    assert acknowledged, "the press did not happen"
    moved = [(e["leg"], e["status"]) for e in events if e["kind"] == "leg_status"]
    assert (acknowledged[0], "acknowledged") in moved
    assert all("leg" not in e for e in events if e["kind"] != "leg_status")


def test_the_stream_goes_on_without_rows_when_the_database_cannot_be_read(
        console: ConsoleContainer, client_for: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable(ids: list[str]) -> Any:
        raise OperationalError("SELECT", {}, Exception("database is down"))

    monkeypatch.setattr(console.console_queries, "summaries", unreadable)
    client = client_for("operator")
    pressed: list[str] = []
    timer = threading.Timer(0.5, lambda: pressed.append(console.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL).id))
    timer.start()
    events = sse_events(client.get("/api/events?lifetime=2").text)
    timer.join(5)
    opened = [e for e in events if e["kind"] == "opened"]
    assert [e["incident_id"] for e in opened] == pressed and "summary" not in opened[0]


def test_grid_workers_stream_leaves_out_other_grids(console: ConsoleContainer, client_for: Clients) -> None:
    client = client_for("grid_worker")
    pressed: list[str] = []

    def press() -> None:
        pressed.append(console.runtime.engine.key_press(LINE_B, CallerTrust.LOCAL).id)
        pressed.append(console.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL).id)

    timer = threading.Timer(0.5, press)
    timer.start()
    body = client.get("/api/events?lifetime=2").text
    timer.join(5)
    other, own = pressed
    assert own in body
    assert other not in body



def test_a_finished_stream_leaves_no_subscriber_behind(console: ConsoleContainer, client_for: Clients) -> None:
    before = len(console.events._subscribers)
    response = client_for("operator").get("/api/events?lifetime=0.2")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert len(console.events._subscribers) == before

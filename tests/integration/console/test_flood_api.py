"""GET /api/flood on SQLite and PostgreSQL: incidents waiting for a first call or for quorum, calls
queued for a trunk channel, a grid worker's own grid, and when the banner is on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import SQLModel

from callcenter.api.app import create_app
from callcenter.bootstrap import ConsoleContainer, build
from callcenter.db.flood_queries import FloodQueries
from callcenter.domain.types import Actor, CallerTrust
from callcenter.settings import CONFIG_DIR, load_settings
from tests.integration.console.conftest import (
    GRID_A,
    GRID_B,
    GUARD,
    LINE_A,
    LINE_B,
    NEIGHBOUR_KEY,
    _household,
    add_accounts,
    insert_directory,
    sign_in,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.slow  # started first (tests/conftest.py): one of the longest files

Clients = Callable[[str | None], TestClient]
OPERATOR = Actor("operator", "test")
ZHANG_XIAOHONG, GRID_WORKER_LIU = "+8613800000001", "+8613800000003"  # 张小红, 网格员刘 (conftest ROWS)


def _console(database_url: str, tmp_path: Path, **engine: object) -> Iterator[ConsoleContainer]:
    """As conftest's console, with the banner's counts read afresh on every request."""
    container = build(load_settings(database_url=database_url, data_dir=tmp_path, guard=GUARD,
                                    engine={"simulated_time_scale": 10_000, **engine},
                                    console={"flood_banner_fresh_seconds": 0}))
    container.init_db()
    insert_directory(container.engine)
    add_accounts(container)
    container.runtime.start()
    try:
        yield container
    finally:
        container.close()


@pytest.fixture
def console(database_url: str, tmp_path: Path) -> Iterator[ConsoleContainer]:
    yield from _console(database_url, tmp_path)


def _sql(console: ConsoleContainer, statement: str, **params: Any) -> None:
    with console.engine.begin() as conn:
        conn.execute(text(statement), params)


def _handed(console: ConsoleContainer, incident_id: str) -> str:
    """The incident, once the simulated channels took its legs (written after the key press returns)."""
    wait_for(lambda: all(leg.status != "pending" for leg in console.incident_store.legs(incident_id)),
             5.0, "the incident's legs handed to the channels")
    return incident_id


def _set_call_legs(console: ConsoleContainer, incident_id: str, status: str) -> None:
    """What the SIP channel reports of calls waiting for a trunk channel (or leaving the queue)."""
    _handed(console, incident_id)
    _sql(console, "UPDATE alert_leg SET status = :status WHERE incident_id = :id AND channel = 'call'",
         status=status, id=incident_id)


def _flood_of_every_state(console: ConsoleContainer) -> dict[str, str]:
    """Grid A: one incident whose only call waits for a trunk channel, one a neighbour acknowledged (short
    of quorum: two, or the grid worker), one whose grid worker acknowledged (quorum met). Grid B: one
    nobody is planned to call at first. One unknown caller's, resolved. Returns them by name."""
    engine = console.runtime.engine
    tables = SQLModel.metadata.tables
    with console.engine.begin() as conn:  # a third household of grid A's group 一组
        conn.execute(tables["household"].insert(), [_household(9, "SMC-009", 4, "李四", "一组9号", [])])
        conn.execute(tables["emergency_line"].insert(), [{"number": "8009", "household_id": 9}])
    queued = engine.key_press(LINE_A, CallerTrust.LOCAL).id
    _set_call_legs(console, queued, "queued")
    short = _handed(console, engine.key_press("8008", CallerTrust.LOCAL).id)
    engine.acknowledge_on_behalf(short, ZHANG_XIAOHONG, OPERATOR)
    met = _handed(console, engine.key_press("8009", CallerTrust.LOCAL).id)
    engine.acknowledge_on_behalf(met, GRID_WORKER_LIU, OPERATOR)
    uncalled = engine.key_press(LINE_B, CallerTrust.LOCAL).id
    closed = engine.key_press("13912345678", CallerTrust.LOCAL).id
    engine.resolve(closed, OPERATOR, "")
    return {"queued": queued, "short": short, "met": met, "uncalled": uncalled}


def _counts(body: dict[str, Any]) -> tuple[int, ...]:
    return (body["alerting"], body["never_called"], body["waiting_for_quorum"], body["acknowledged"],
            body["calls_queued"])


def test_counts_of_every_state_and_the_banner_while_calls_are_queued(console: ConsoleContainer,
                                                                     client_for: Clients) -> None:
    made = _flood_of_every_state(console)
    body = client_for("operator").get("/api/flood").json()
    assert _counts(body) == (3, 2, 1, 1, 1)
    assert body["flood"] is True  # a call waits for a trunk channel
    assert (body["grid_id"], body["trunk"], body["mass_event_threshold"]) == (None, None, 10)

    _set_call_legs(console, made["queued"], "dialing")  # its call left the queue
    body = client_for("supervisor").get("/api/flood").json()
    assert _counts(body) == (3, 1, 1, 1, 0)
    assert body["flood"] is False  # three alerting, under the policy's ten, nobody in a mass event


def test_a_grid_worker_counts_their_own_grid_while_the_flood_is_the_districts(console: ConsoleContainer,
                                                                              client_for: Clients) -> None:
    _flood_of_every_state(console)
    mine = client_for("grid_worker").get("/api/flood").json()
    assert (mine["grid_id"], _counts(mine), mine["flood"]) == (GRID_A, (2, 1, 1, 1, 1), True)
    other = client_for("other_grid").get("/api/flood").json()
    assert (other["grid_id"], _counts(other), other["flood"]) == (GRID_B, (1, 1, 0, 0, 0), True)


def test_no_open_incident_no_banner(console: ConsoleContainer, client_for: Clients) -> None:
    body = client_for("admin").get("/api/flood").json()
    assert (_counts(body), body["flood"], body["recipients_in_mass_event"]) == ((0, 0, 0, 0, 0), False, 0)
    assert client_for(None).get("/api/flood").status_code == 401


@pytest.fixture
def low_threshold(database_url: str, tmp_path: Path) -> Iterator[ConsoleContainer]:
    """The console of a policy whose mass event starts at two alerting incidents."""
    policy = tmp_path / "escalation.yaml"
    data = yaml.safe_load((CONFIG_DIR / "escalation.yaml").read_text(encoding="utf-8"))
    data.setdefault("congestion", {}).setdefault("mass_event", {})["open_incidents"] = 2
    policy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    yield from _console(database_url, tmp_path, policy_file=policy)


def test_the_banner_is_on_from_the_policys_count_of_alerting_incidents(low_threshold: ConsoleContainer) -> None:
    with TestClient(create_app(low_threshold)) as client:
        sign_in(client, "operator")
        low_threshold.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL)
        one = client.get("/api/flood").json()
        low_threshold.runtime.engine.key_press(LINE_B, CallerTrust.LOCAL)
        two = client.get("/api/flood").json()
    assert (one["alerting"], one["flood"], one["mass_event_threshold"]) == (1, False, 2)
    assert (two["alerting"], two["flood"]) == (2, True)
    assert two["recipients_in_mass_event"] == 1  # the police station both incidents list at their top level


@dataclass
class _Queue:
    calls: int
    incidents: int

    def __len__(self) -> int:
        return self.calls

    def waiting_incidents(self) -> int:
        return self.incidents


@dataclass
class _Channel:
    active_calls: int
    max_channels: int
    queue: _Queue = field(default_factory=lambda: _Queue(0, 0))


def test_this_processs_trunk_full_and_queueing_is_a_flood(console: ConsoleContainer, client_for: Clients,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIP process: its channel package has built the trunk (here a stand-in for its alert channel)."""
    monkeypatch.setattr(console, "trunk", lambda: _Channel(30, 30, _Queue(45, 12)))
    body = client_for("operator").get("/api/flood").json()
    assert body["trunk"] == {"calls_up": 30, "channels": 30, "calls_queued": 45, "incidents_waiting": 12}
    assert body["flood"] is True
    monkeypatch.setattr(console, "trunk", lambda: _Channel(4, 30))
    body = client_for("operator").get("/api/flood").json()
    assert (body["trunk"]["calls_queued"], body["flood"]) == (0, False)


def test_placed_alert_calls_are_those_that_left_the_queue(console: ConsoleContainer, client_for: Clients) -> None:
    """Only an alert call that reached a phone makes an incident called: not its SMS, not a pending call."""
    incident = console.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL).id
    _set_call_legs(console, incident, "pending")
    client = client_for("operator")
    assert client.get("/api/flood").json()["never_called"] == 1  # its SMS legs were submitted
    _sql(console, "UPDATE alert_leg SET status = 'ringing' WHERE incident_id = :id AND channel = 'call' "
                  "AND recipient_phone = :phone", id=incident, phone=NEIGHBOUR_KEY)
    assert client.get("/api/flood").json()["never_called"] == 0


def test_the_counts_are_read_once_per_fresh_seconds_however_many_consoles_ask(console: ConsoleContainer) -> None:
    clock = [100.0]
    queries = FloodQueries(console.engine, fresh_seconds=2.0, clock=lambda: clock[0])
    assert queries.counts().alerting == 0
    console.runtime.engine.key_press(LINE_A, CallerTrust.LOCAL)
    clock[0] += 1.9
    assert queries.counts().alerting == 0  # as read 1.9 s ago
    assert queries.counts(GRID_A).alerting == 1  # each grid is read on its own
    clock[0] += 0.1
    assert queries.counts().alerting == 1

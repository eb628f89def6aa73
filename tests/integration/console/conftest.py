"""Console fixtures: a directory of two grids, accounts of every role, signed-in clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import SQLModel

from callcenter.api.app import create_app
from callcenter.bootstrap import ConsoleContainer, build
from callcenter.db.tables import scope_key
from callcenter.settings import load_settings

PASSWORD = "correct-horse-995"
GRID_A, GRID_B = 3, 30
HOUSEHOLD_A, HOUSEHOLD_B = 7, 70
LINE_A, LINE_B = "+867176123456", "+867176999000"
NEIGHBOUR_KEY = "+8613800000002"
OPERATOR_PHONE = "+8613900000001"  # every test account's own phone, rung first on a call-back
GUARD = {"operator_phones": [OPERATOR_PHONE]}  # the toll-fraud guard lets call-backs ring it


def _responder(rid: int, name: str, phone: str, role: str, level: str, scope_id: int,
               household_id: int | None = None) -> dict[str, Any]:
    return {"id": rid, "name": name, "phone": phone, "role": role, "scope_level": level, "scope_id": scope_id,
            "scope_key": scope_key(level, scope_id), "household_id": household_id, "position": 0}


def _household(hid: int, code: str, group: int, head: str, address: str, flags: list[str]) -> dict[str, Any]:
    return {"id": hid, "code": code, "group_id": group, "head": head, "label": f"{head}家", "address": address,
            "care_flags": flags, "residents": [head], "key_holders": [], "notes": ""}


ROWS: dict[str, list[dict[str, Any]]] = {
    "town": [{"id": 1, "name": "小溪塔街道"}],
    "village": [{"id": 2, "town_id": 1, "name": "石门村"}],
    "grid": [{"id": GRID_A, "village_id": 2, "name": "第一网格"}, {"id": GRID_B, "village_id": 2, "name": "第二网格"}],
    "joint_defense_group": [{"id": 4, "grid_id": GRID_A, "name": "一组"},
                            {"id": 40, "grid_id": GRID_B, "name": "九组"}],
    "household": [
        _household(HOUSEHOLD_A, "SMC-007", 4, "张大山", "石门村一组7号", ["living_alone"]),
        _household(8, "SMC-008", 4, "王二", "石门村一组8号", []),
        _household(HOUSEHOLD_B, "SMC-070", 40, "赵九", "石门村九组70号", []),
    ],
    "emergency_line": [
        {"number": LINE_A, "household_id": HOUSEHOLD_A},
        {"number": "8008", "household_id": 8},
        {"number": LINE_B, "household_id": HOUSEHOLD_B},
    ],
    "responder": [
        _responder(1, "张小红", "+8613800000001", "household_contact", "group", 4, HOUSEHOLD_A),
        _responder(2, "王二", NEIGHBOUR_KEY, "household_contact", "group", 4, 8),
        _responder(3, "派出所", "+867176100110", "police_station", "town", 1),
        _responder(4, "网格员刘", "+8613800000003", "grid_worker", "grid", GRID_A),
        _responder(5, "赵九妻", "+8613800000070", "household_contact", "group", 40, HOUSEHOLD_B),
    ],
}

ROLES = {"operator": None, "supervisor": None, "grid_worker": GRID_A, "admin": None}


def insert_directory(engine: Engine) -> None:
    with engine.begin() as conn:
        for table, rows in ROWS.items():
            conn.execute(SQLModel.metadata.tables[table].insert(), rows)


def add_accounts(container: ConsoleContainer) -> None:
    for role, grid in ROLES.items():
        container.accounts.add_user(role, role, PASSWORD, grid, phone=OPERATOR_PHONE)
    container.accounts.add_user("other_grid", "grid_worker", PASSWORD, GRID_B)


@pytest.fixture
def console(database_url: str, tmp_path: Path) -> Iterator[ConsoleContainer]:
    # Simulated phones answer only after hours: the tests decide every outcome themselves.
    container = build(load_settings(database_url=database_url, data_dir=tmp_path,
                                    engine={"simulated_time_scale": 10_000},
                                    guard=GUARD))
    container.init_db()
    insert_directory(container.engine)
    add_accounts(container)
    container.runtime.start()
    yield container
    container.close()


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign ``client`` in; returns the CSRF token and sends it with every later request."""
    response = client.post("/api/session", json={"name": name, "password": password})
    assert response.status_code == 200, response.text
    token = str(response.json()["csrf_token"])
    client.headers["X-CSRF-Token"] = token
    return token


@pytest.fixture
def client_for(console: ConsoleContainer) -> Iterator[Callable[[str | None], TestClient]]:
    clients: list[TestClient] = []

    def make(name: str | None) -> TestClient:
        client = TestClient(create_app(console))
        client.__enter__()
        clients.append(client)
        if name is not None:
            sign_in(client, name)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)

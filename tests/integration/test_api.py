"""The HTTP API over a real database (SQLite and PostgreSQL), through FastAPI's test client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import SQLModel

from callcenter.api.app import create_app
from callcenter.bootstrap import ConsoleContainer, Container, build
from callcenter.db.tables import scope_key
from callcenter.settings import load_settings

HOUSEHOLD_ID = 7
LANDLINE = "+867176123456"


def _responder(rid: int, name: str, phone: str, role: str, level: str, scope_id: int,
               household_id: int | None = None) -> dict[str, Any]:
    return {"id": rid, "name": name, "phone": phone, "role": role, "scope_level": level, "scope_id": scope_id,
            "scope_key": scope_key(level, scope_id), "household_id": household_id, "position": 0}


ROWS: dict[str, list[dict[str, Any]]] = {
    "town": [{"id": 1, "name": "小溪塔街道"}],
    "village": [{"id": 2, "town_id": 1, "name": "石门村"}],
    "grid": [{"id": 3, "village_id": 2, "name": "第一网格"}],
    "joint_defense_group": [{"id": 4, "grid_id": 3, "name": "一组"}],
    "household": [
        {"id": HOUSEHOLD_ID, "code": "SMC-007", "group_id": 4, "head": "张大山", "label": "张大山家",
         "address": "石门村一组7号", "care_flags": ["living_alone"], "residents": ["张大山"],
         "key_holders": [{"name": "李四", "phone": "+8613800000004"}], "notes": ""},
        {"id": 8, "code": "SMC-008", "group_id": 4, "head": "王二", "label": "王二家",
         "address": "石门村一组8号", "care_flags": [], "residents": [], "key_holders": [], "notes": ""},
    ],
    "emergency_line": [
        {"number": LANDLINE, "household_id": HOUSEHOLD_ID},
        {"number": "8008", "household_id": 8},
    ],
    "responder": [
        _responder(1, "张小红", "+8613800000001", "household_contact", "group", 4, HOUSEHOLD_ID),
        _responder(2, "王二", "+8613800000002", "household_contact", "group", 4, 8),
        _responder(3, "派出所", "+867176100110", "police_station", "town", 1),
        _responder(4, "网格员刘", "+8613800000003", "grid_worker", "grid", 3),
    ],
}


def insert_directory(engine: Engine) -> None:
    with engine.begin() as conn:
        for table, rows in ROWS.items():
            conn.execute(SQLModel.metadata.tables[table].insert(), rows)


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    """Signed in as an operator: the directory is personal data and needs a session."""
    insert_directory(container.engine)
    assert isinstance(container, ConsoleContainer)
    container.accounts.add_user("reader", "operator", "reader-password-995")
    with TestClient(create_app(container)) as client:
        signed_in = client.post("/api/session", json={"name": "reader", "password": "reader-password-995"})
        assert signed_in.status_code == 200
        yield client


def test_directory_needs_a_session(container: Container) -> None:
    insert_directory(container.engine)
    with TestClient(create_app(container)) as anonymous:
        assert anonymous.get(f"/api/households/{HOUSEHOLD_ID}").status_code == 401
        assert anonymous.get(f"/api/lookup/{LANDLINE}").status_code == 401


def test_health_is_ok_when_the_database_answers(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"], body["mode"]) == ("ok", "ok", "demo")
    assert body["probes"]["database"] == {"ok": True, "detail": "ok"}
    assert body["probes"]["scheduler"]["ok"] is True


@pytest.mark.parametrize(
    "unreachable",
    [
        # Nothing listens on port 1.
        "postgresql+psycopg://nobody:secret@127.0.0.1:1/nothing?connect_timeout=3",
        "sqlite:////proc/no-such-dir/callcenter.db",  # a file that cannot be created
    ],
)
def test_health_is_503_when_the_database_is_unreachable(tmp_path: Path, unreachable: str) -> None:
    container = build(load_settings(database_url=unreachable, data_dir=tmp_path))
    try:
        with TestClient(create_app(container)) as client:
            response = client.get("/health")
    finally:
        container.close()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["database"].startswith("unreachable: ")
    assert "secret" not in response.text  # the error names the failure, never the credentials


def test_household_by_id(client: TestClient) -> None:
    response = client.get(f"/api/households/{HOUSEHOLD_ID}")
    assert response.status_code == 200
    body = response.json()
    household = body["household"]
    assert household["code"] == "SMC-007"
    assert household["emergency_lines"] == [LANDLINE]
    assert household["care_flags"] == ["living_alone"]
    assert household["care_labels"] == ["独居老人"]
    key_holder = {"name": "李四", "phone": "+8613800000004", "phone_display": "138 0000 0004"}
    assert household["key_holders"] == [key_holder]
    assert body["place"]["path"] == "小溪塔街道/石门村/第一网格/一组"
    assert [r["name"] for r in body["own_contacts"]] == ["张小红"]
    assert [r["name"] for r in body["neighbours"]] == ["王二"]
    assert [r["role"] for r in body["upper_levels"]] == ["grid_worker", "police_station"]
    police = body["upper_levels"][1]
    assert police["role_label"] == "派出所"
    assert police["phone_display"] == "0717-6100110"


def test_unknown_household_is_404(client: TestClient) -> None:
    response = client.get("/api/households/999")
    assert response.status_code == 404
    assert response.json() == {"detail": "no household 999"}


def test_household_id_must_be_a_number(client: TestClient) -> None:
    assert client.get("/api/households/abc").status_code == 422


def test_lookup_by_any_written_form(client: TestClient) -> None:
    for number in ("0717-6123456", "07176123456", "+86 717 6123456", "(0717)6123456", LANDLINE):
        response = client.get(f"/api/lookup/{quote(number)}")
        assert response.status_code == 200, number
        assert response.json()["household"]["id"] == HOUSEHOLD_ID, number
    assert client.get("/api/lookup/8008").json()["household"]["code"] == "SMC-008"


def test_lookup_of_an_unknown_caller_is_404(client: TestClient) -> None:
    for number in ("0717-6999999", "garbage", "110"):
        response = client.get(f"/api/lookup/{quote(number)}")
        assert response.status_code == 404, number
        assert response.json()["detail"] == f"unknown caller {number}"


def test_openapi_lists_the_routes(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    paths = spec["paths"]
    assert {"/health", "/api/households/{household_id}", "/api/lookup/{number}"} <= set(paths)
    assert "get" in paths["/api/lookup/{number}"]
    assert "404" in paths["/api/households/{household_id}"]["get"]["responses"]
    assert "HouseholdDetail" in spec["components"]["schemas"]

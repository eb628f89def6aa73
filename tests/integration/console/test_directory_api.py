"""Directory API for the console: search, edits with the audit trail, coverage report, grid scope."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from callcenter.bootstrap import ConsoleContainer
from tests.integration.console.conftest import GRID_A, GRID_B, HOUSEHOLD_A, HOUSEHOLD_B

Clients = Callable[[str | None], TestClient]


def test_search_by_name_number_address_and_code(client_for: Clients) -> None:
    client = client_for("operator")
    by = {q: [h["id"] for h in client.get("/api/directory/households", params={"q": q}).json()]
          for q in ("张大山", "0717-6123456", "九组70号", "SMC-070", "nobody")}
    assert by == {"张大山": [HOUSEHOLD_A], "0717-6123456": [HOUSEHOLD_A], "九组70号": [HOUSEHOLD_B],
                  "SMC-070": [HOUSEHOLD_B], "nobody": []}
    assert client.get("/api/directory/households", params={"q": ""}).status_code == 422


def test_grid_worker_searches_and_edits_only_their_grid(client_for: Clients) -> None:
    worker = client_for("grid_worker")
    assert [h["grid_id"] for h in worker.get("/api/directory/households", params={"q": "石门村"}).json()] == \
        [GRID_A, GRID_A]
    assert worker.get(f"/api/directory/households/{HOUSEHOLD_B}").status_code == 404
    assert worker.patch(f"/api/directory/households/{HOUSEHOLD_B}", json={"notes": "x"}).status_code == 404
    assert worker.patch("/api/directory/responders/5", json={"name": "x"}).status_code == 404
    assert [g["id"] for g in worker.get("/api/directory/grids").json()] == [GRID_A]


def test_edit_care_flags_notes_and_key_holders_with_audit(client_for: Clients) -> None:
    client = client_for("operator")
    changed = client.patch(f"/api/directory/households/{HOUSEHOLD_A}", json={
        "care_flags": ["living_alone", "chronic_illness"], "notes": "糖尿病，胰岛素在冰箱",
        "key_holders": [{"name": "李四", "phone": "138 0000 0004"}]})
    assert changed.status_code == 200, changed.text
    household = changed.json()["household"]
    assert household["care_flags"] == ["chronic_illness", "living_alone"]
    assert household["notes"] == "糖尿病，胰岛素在冰箱"
    assert household["key_holders"][0]["phone"] == "+8613800000004"
    audit = client_for("supervisor").get("/api/audit", params={"target": f"household:{HOUSEHOLD_A}"}).json()
    assert audit[0]["before"]["care_flags"] == ["living_alone"]
    assert audit[0]["after"]["notes"] == "糖尿病，胰岛素在冰箱"


def test_bad_edits_are_clear_errors_and_change_nothing(client_for: Clients) -> None:
    client = client_for("operator")
    bad_phone = client.patch(f"/api/directory/households/{HOUSEHOLD_A}",
                             json={"notes": "kept?", "key_holders": [{"name": "李四", "phone": "12"}]})
    assert bad_phone.status_code == 422 and "key_holders" in bad_phone.text
    assert client.patch(f"/api/directory/households/{HOUSEHOLD_A}",
                        json={"care_flags": ["rich"]}).status_code == 422
    assert client.get(f"/api/directory/households/{HOUSEHOLD_A}").json()["household"]["notes"] == ""


def test_correct_a_responders_phone(client_for: Clients, console: ConsoleContainer) -> None:
    client = client_for("operator")
    response = client.patch("/api/directory/responders/4", json={"phone": "139-0000-0033"})
    assert response.status_code == 200 and response.json()["phone"] == "+8613900000033"
    found = console.directory.household_by_id(HOUSEHOLD_A)
    assert found is not None
    assert [r.phone for r in found.upper_levels if r.name == "网格员刘"] == ["+8613900000033"]


def test_coverage_report(client_for: Clients) -> None:
    report = client_for("operator").get("/api/directory/coverage").json()
    assert [g["name"] for g in report["thin_groups"]] == ["九组"]  # one reachable responder
    assert report["households_without_line"] == []
    assert [g["id"] for g in report["grids_without_worker"]] == [GRID_B]
    assert client_for("grid_worker").get(f"/api/directory/coverage?grid={GRID_B}").status_code == 403
    own = client_for("grid_worker").get("/api/directory/coverage").json()
    assert own["thin_groups"] == [] and own["grids_without_worker"] == []

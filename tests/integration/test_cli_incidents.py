"""`callcenter simulate-press` and `callcenter incidents list|show [--json]` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from test_cli import fill_directory, invoke

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CALLCENTER_") and name != "CALLCENTER_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> str:
    """A site whose simulated phones answer a hundred times faster than people do."""
    path = tmp_path / "site.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "var"}"\ndatabase_url = "{database_url}"\n'
        '[engine]\ninstance_name = "cli-test"\nsimulated_time_scale = 0.01\n', encoding="utf-8")
    assert invoke("--config", str(path), "init-db").exit_code == 0
    fill_directory(database_url)
    return str(path)


def press(config: str) -> str:
    result = invoke("--config", config, "simulate-press", "0717-6123456", "--wait", "2")
    assert result.exit_code == 0, result.output
    found = re.search(r"incident (\S+): 张大山家 \(press 1\)", result.output)
    assert found, result.output
    assert re.search(r"\d\d:\d\d:\d\d opened\s+household:张大山家", result.output), result.output  # live timeline
    return found.group(1)


def as_json(config: str, *args: str) -> Any:
    result = invoke("--config", config, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_simulate_press_opens_an_incident_that_list_and_show_report(config: str) -> None:
    incident_id = press(config)

    listed = as_json(config, "incidents", "list")
    assert [(i["id"], i["label"], i["press_count"], i["household_id"]) for i in listed] == [
        (incident_id, "张大山家", 1, 7)]

    detail = as_json(config, "incidents", "show", incident_id)
    assert detail["id"] == incident_id and detail["caller"] == "+867176123456"
    # The household's own contact is not a neighbour; level 0 texts the grid worker, and it went out.
    legs = [(leg["recipient"], leg["channel"], leg["attempt"], leg["status"]) for leg in detail["legs"]]
    assert legs == [("网格员刘", "sms", 1, "delivered")]
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds[:2] == ["opened", "level_entered"] and "leg_planned" in kinds and "leg_status" in kinds


def test_text_forms_and_filters(config: str) -> None:
    incident_id = press(config)
    listed = invoke("--config", config, "incidents", "list")
    assert incident_id in listed.output and "张大山家" in listed.output
    status = as_json(config, "incidents", "show", incident_id)["status"]
    other = "resolved" if status != "resolved" else "cancelled"
    assert as_json(config, "incidents", "list", "--status", other) == []
    assert [i["id"] for i in as_json(config, "incidents", "list", "--status", status)] == [incident_id]
    shown = invoke("--config", config, "incidents", "show", incident_id)
    assert shown.exit_code == 0
    for expected in ("legs", "timeline", "网格员刘", "delivered", "opened", "level_entered"):
        assert expected in shown.output


def test_show_of_an_unknown_incident_is_a_clear_error(config: str) -> None:
    result = invoke("--config", config, "incidents", "show", "20260101-000000-nope")
    assert result.exit_code == 1
    assert "no incident 20260101-000000-nope" in result.output


def test_a_repeated_press_joins_the_open_incident(config: str) -> None:
    first = press(config)
    result = invoke("--config", config, "simulate-press", "07176123456", "--wait", "1")
    assert result.exit_code == 0, result.output
    assert f"incident {first}: 张大山家 (press 2)" in result.output
    assert [i["press_count"] for i in as_json(config, "incidents", "list")] == [2]

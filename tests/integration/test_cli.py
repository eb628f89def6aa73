"""The `callcenter` command on SQLite and PostgreSQL: settings file, schema, caller lookup, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect
from sqlmodel import SQLModel
from typer.testing import CliRunner

from callcenter.cli import app
from callcenter.db.engine import make_engine
from callcenter.db.tables import scope_key

ROOT = Path(__file__).resolve().parents[2]
LANDLINE = "+867176123456"

ROWS: dict[str, list[dict[str, Any]]] = {
    "town": [{"id": 1, "name": "小溪塔街道"}],
    "village": [{"id": 2, "town_id": 1, "name": "石门村"}],
    "grid": [{"id": 3, "village_id": 2, "name": "第一网格"}],
    "joint_defense_group": [{"id": 4, "grid_id": 3, "name": "一组"}],
    "household": [
        {"id": 7, "code": "SMC-007", "group_id": 4, "head": "张大山", "label": "张大山家",
         "address": "石门村一组7号", "care_flags": ["living_alone", "chronic_illness"],
         "residents": ["张大山"], "key_holders": [], "notes": "耳背, 多按门铃"},
    ],
    "emergency_line": [{"number": LANDLINE, "household_id": 7}],
    "responder": [
        {"id": 1, "name": "网格员刘", "phone": "+8613800000003", "role": "grid_worker", "scope_level": "grid",
         "scope_id": 3, "scope_key": scope_key("grid", 3), "household_id": None, "position": 0},
        {"id": 2, "name": "张小红", "phone": "+8613800000001", "role": "household_contact",
         "scope_level": "group", "scope_id": 4, "scope_key": scope_key("group", 4), "household_id": 7,
         "position": 0},
    ],
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CALLCENTER_") and name != "CALLCENTER_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def config_file(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(f'data_dir = "{tmp_path / "var"}"\ndatabase_url = "{database_url}"\n', encoding="utf-8")
    return path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def fill_directory(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            for table, rows in ROWS.items():
                conn.execute(SQLModel.metadata.tables[table].insert(), rows)
    finally:
        engine.dispose()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed entry point in a real process, as an operator runs it."""
    code = "from callcenter.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, **(env or {})}, cwd=ROOT,
    )


def test_init_db_creates_the_schema_at_the_configured_database(config_file: Path, database_url: str) -> None:
    result = invoke("--config", str(config_file), "init-db")
    assert result.exit_code == 0, result.output
    assert "database ready" in result.output
    engine = make_engine(database_url)
    try:
        assert set(SQLModel.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    again = invoke("--config", str(config_file), "init-db")
    assert again.exit_code == 0, again.output


def test_init_db_never_prints_the_password(config_file: Path, database_url: str) -> None:
    result = invoke("--config", str(config_file), "init-db")
    assert result.exit_code == 0
    password = database_url.split("://", 1)[1].split("@", 1)[0].partition(":")[2]
    if password:
        assert password not in result.output


def test_lookup_json_of_a_known_caller(config_file: Path, database_url: str) -> None:
    assert invoke("--config", str(config_file), "init-db").exit_code == 0
    fill_directory(database_url)

    result = invoke("--config", str(config_file), "lookup", "0717-6123456", "--json")

    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["found"] is True
    assert body["household"]["code"] == "SMC-007"
    assert body["household"]["emergency_lines"] == [LANDLINE]
    assert body["household"]["care_flags"] == ["chronic_illness", "living_alone"]
    assert body["place"]["village"] == "石门村"
    assert [r["name"] for r in body["own_contacts"]] == ["张小红"]
    assert [(r["name"], r["role"]) for r in body["upper_levels"]] == [("网格员刘", "grid_worker")]


def test_lookup_text_shows_the_profile_in_chinese(config_file: Path, database_url: str) -> None:
    assert invoke("--config", str(config_file), "init-db").exit_code == 0
    fill_directory(database_url)
    result = invoke("--config", str(config_file), "lookup", "+86 717 6123456")
    assert result.exit_code == 0, result.output
    for expected in ("张大山家", "SMC-007", "0717-6123456", "独居老人", "慢性病", "网格员", "138 0000 0003"):
        assert expected in result.output


@pytest.mark.parametrize("number", ["0717-6999999", "garbage"])
def test_lookup_of_an_unknown_caller_exits_2(config_file: Path, number: str) -> None:
    assert invoke("--config", str(config_file), "init-db").exit_code == 0
    as_json = invoke("--config", str(config_file), "lookup", number, "--json")
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout) == {"number": number, "found": False}
    as_text = invoke("--config", str(config_file), "lookup", number)
    assert as_text.exit_code == 2
    assert "unknown caller" in as_text.output


def test_a_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    done = run_cli("--config", str(missing), "init-db")
    assert done.returncode == 1
    assert f"config file not found: {missing}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "var").exists()


def test_a_directory_as_config_file_is_a_clear_error(tmp_path: Path) -> None:
    done = run_cli("--config", str(tmp_path), "lookup", "07176123456")
    assert done.returncode == 1
    assert "config file is not a file" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_config_file_with_an_unknown_key_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "typo.toml"
    config.write_text("[http]\nprot = 9000\n", encoding="utf-8")
    done = run_cli("--config", str(config), "init-db")
    assert done.returncode == 1
    assert "http.prot" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/nothing?connect_timeout=3"
    done = run_cli("init-db", env={"CALLCENTER_DATABASE_URL": url, "CALLCENTER_DATA_DIR": str(tmp_path)})
    assert done.returncode == 1
    assert "database unreachable" in done.stderr
    assert "Traceback" not in done.stderr
    assert "secret" not in done.stderr


def test_help_lists_the_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("init-db", "lookup", "serve", "demo-data", "roster"):
        assert command in result.output

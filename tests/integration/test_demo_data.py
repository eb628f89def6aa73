"""``callcenter demo-data`` on SQLite and PostgreSQL: loads, is found by caller lookup, and is idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from callcenter.bootstrap import build
from callcenter.cli import app
from callcenter.db.roster_store import RosterStore
from callcenter.settings import load_settings
from contacts.demo import VILLAGE, generate_roster
from contacts.model import Role


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads its database from the environment, as an operator would set it."""
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", database_url)
    monkeypatch.setenv("CALLCENTER_DATA_DIR", str(tmp_path))


def _demo_data(*args: str) -> str:
    result = CliRunner().invoke(app, ["demo-data", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_village_demo_data_loads_and_is_found_by_caller(cli_env: None, database_url: str) -> None:
    output = _demo_data("--scale", "village")
    assert "400 added" in output
    assert "callcenter lookup 2001" in output

    container = build(load_settings(database_url=database_url))
    try:
        found = container.directory.household_by_caller("2001")
        expected = generate_roster(VILLAGE).households[0]
        assert found is not None
        assert found.household.code == expected.code
        assert found.place.group == expected.group
        assert len(found.own_contacts) == len(expected.contacts)
        assert found.neighbours, "the rest of the joint-defense group answers for the caller"
        assert all(r.role is Role.HOUSEHOLD_CONTACT for r in found.neighbours)
        assert [r.role for r in found.grid_workers] == [Role.GRID_WORKER]
        assert found.upper_levels[-1].role is Role.POLICE_STATION
    finally:
        container.close()


def test_running_demo_data_twice_changes_nothing(cli_env: None, database_url: str) -> None:
    _demo_data("--scale", "village", "--seed", "11")
    container = build(load_settings(database_url=database_url))
    try:
        before = RosterStore(container.engine).load()
        output = _demo_data("--scale", "village", "--seed", "11")
        assert "0 added, 0 updated, 400 unchanged" in output
        assert RosterStore(container.engine).load() == before
    finally:
        container.close()


def test_demo_data_is_refused_in_production(cli_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_MODE", "production")
    monkeypatch.setenv("CALLCENTER_SESSION_SECRET", "x" * 40)
    result = CliRunner().invoke(app, ["demo-data"])
    assert result.exit_code == 1
    assert "production" in result.output

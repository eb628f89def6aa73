"""The set-up and check scripts: runnable as they are, strict, and honest about failures."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))
ENTRY_POINTS = [*(p for p in SCRIPTS if p.name != "lib.sh"), ROOT / ".ci" / "run"]


def test_the_expected_scripts_exist() -> None:
    names = {p.name for p in SCRIPTS}
    assert {"install.sh", "demo.sh", "postgres.sh", "test.sh", "check.sh"} <= names


@pytest.mark.parametrize("script", [*SCRIPTS, ROOT / ".ci" / "run"], ids=lambda p: p.name)
def test_scripts_parse(script: Path) -> None:
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("script", ENTRY_POINTS, ids=lambda p: p.name)
def test_entry_points_are_strict_bash_and_executable(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert script.stat().st_mode & stat.S_IXUSR, f"{script} is not executable"


def test_ci_runs_the_test_script() -> None:
    assert "exec scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_readme_opens_with_the_two_set_up_commands() -> None:
    """Exactly two commands, runnable as root on a bare Debian (no sudo there): demo, then the tests."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    fence = lines.index("```sh")
    commands = [line.split("#")[0].strip() for line in lines[fence + 1:lines.index("```", fence)]]
    assert fence <= 3 and commands == ["./scripts/demo.sh", "./scripts/test.sh"], commands
    for command in commands:
        assert os.access(ROOT / command, os.X_OK), command


def test_postgres_script_prints_the_url_as_its_last_line() -> None:
    """tests/conftest.py reads the last line; progress must not follow it on stdout."""
    script = str(ROOT / "scripts" / "postgres.sh")
    done = subprocess.run(
        [script], capture_output=True, text=True, timeout=300, check=False, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith("postgresql+psycopg://callcenter_test:")
    assert lines[-1].endswith("/callcenter_test")

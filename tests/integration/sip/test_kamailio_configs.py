"""Every Kamailio configuration we ship parses. All of them also run in other tests: production.cfg
in test_kamailio_edge.py, dispatcher.cfg in test_two_instances_dispatcher.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[3] / "config" / "kamailio"


@pytest.mark.parametrize("name", sorted(path.name for path in CONFIGS.glob("*.cfg")))
def test_kamailio_accepts_the_configuration(name: str, tmp_path: Path) -> None:
    done = subprocess.run(["kamailio", "-c", "-f", str(CONFIGS / name), "-Y", str(tmp_path),
                           "-A", f'DISPATCHER_LIST="{CONFIGS / "dispatcher.list"}"'],
                          capture_output=True, text=True, timeout=60, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "config file ok" in output.lower(), output[-3000:]
    assert "ERROR" not in output, output[-3000:]

"""`callcenter serve` in production mode refuses demo leftovers, naming each fix; fixed, it serves
without API docs and with /metrics behind its token. Demo mode starts as before
(tests/integration/test_serve_stop.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from callcenter.cli import app
from tests.integration.test_serve_stop import ROOT, _answers, _free_tcp_port
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(120)
SECRET, METRICS_TOKEN = "p" * 40, "t" * 40
READY = {
    "CALLCENTER_MODE": "production",
    "CALLCENTER_SESSION_SECRET": SECRET,
    "CALLCENTER_HTTP__PUBLIC_BASE_URL": "https://995.example.cn",
    "CALLCENTER_GUARD__OPERATOR_PHONES": '["+8613912345678"]',
    "CALLCENTER_METRICS__TOKEN": METRICS_TOKEN,
}


def _env(tmp_path: Path, **changes: str) -> dict[str, str]:
    env = {"CALLCENTER_DATA_DIR": str(tmp_path), "CALLCENTER_DATABASE_URL": f"sqlite:///{tmp_path / 'cc.db'}",
           **READY, **changes}
    return {name: value for name, value in env.items() if value}


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env, input=stdin)


def test_production_refuses_to_start_with_demo_settings_naming_every_fix(tmp_path: Path) -> None:
    env = _env(tmp_path, CALLCENTER_HTTP__PUBLIC_BASE_URL="http://995.example.cn",
               CALLCENTER_GUARD__OPERATOR_PHONES="", CALLCENTER_METRICS__TOKEN="")
    result = _cli(env, "serve", "--port", "0")
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "production mode refuses to start" in text
    assert "CALLCENTER_HTTP__PUBLIC_BASE_URL=https://" in text
    assert "guard.operator_phones still lists the demo phones" in text  # the shipped list is the demo one
    assert "CALLCENTER_METRICS__TOKEN" in text


def test_production_refuses_a_demo_account_with_its_demo_password_until_it_is_changed(tmp_path: Path) -> None:
    env = _env(tmp_path)
    made = _cli(env, "user", "add", "operator", "--role", "operator", "--password-stdin", stdin="demo-operator-995\n")
    assert made.exit_code == 0, made.output
    refused = _cli(env, "serve", "--port", "0")
    assert refused.exit_code == 1
    assert "`callcenter user password operator`" in " ".join(refused.output.split())
    changed = _cli(env, "user", "password", "operator", "--password-stdin", stdin="a-real-secret-995\n")
    assert changed.exit_code == 0, changed.output
    _serves_hardened(env, tmp_path)  # the same database now starts


def _serves_hardened(env: dict[str, str], tmp_path: Path) -> None:
    port = _free_tcp_port()
    log = (tmp_path / "serve.log").open("wb")
    service = subprocess.Popen([sys.executable, "-c", "from callcenter.cli import main; main()", "serve",
                                "--port", str(port)], env={**_without_callcenter(os.environ), **env}, cwd=ROOT,
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: _answers(port) or service.poll() is not None, timeout=60, what="the service answering")
        assert service.poll() is None, (tmp_path / "serve.log").read_text()
        base = f"http://127.0.0.1:{port}"
        assert _status(f"{base}/docs") == _status(f"{base}/openapi.json") == 404
        assert _status(f"{base}/metrics") == 401
        assert _status(f"{base}/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"}) == 200
    finally:
        service.terminate()
        service.wait(timeout=60)
        log.close()


def _without_callcenter(environ: os._Environ[str]) -> dict[str, str]:
    return {name: value for name, value in environ.items() if not name.startswith("CALLCENTER_")}


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)

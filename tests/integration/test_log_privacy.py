"""What `callcenter serve` writes to its log while operators search the directory: no names, no
addresses, no whole phone numbers (the search terms travel in query strings and paths)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.integration.test_roster_cli import GOOD, roster_cli
from tests.integration.test_serve_stop import ROOT, _answers, _free_tcp_port
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(120)
NAME, ADDRESS, PHONE = "张桂兰", "石桥村一组1号", "13800001001"  # a household and a contact of base.csv


def test_directory_searches_leave_no_name_address_or_number_in_the_service_log(tmp_path: Path) -> None:
    db = tmp_path / "cc.db"
    assert roster_cli(db, "import", str(GOOD / "base.csv")).exit_code == 0
    port, log_file = _free_tcp_port(), tmp_path / "serve.log"
    env = {name: value for name, value in os.environ.items() if not name.startswith("CALLCENTER_")}
    env.update({"CALLCENTER_DATA_DIR": str(tmp_path), "CALLCENTER_DATABASE_URL": f"sqlite:///{db}"})
    with log_file.open("wb") as log:
        service = subprocess.Popen([sys.executable, "-c", "from callcenter.cli import main; main()", "serve",
                                    "--port", str(port)], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        try:
            wait_for(lambda: _answers(port), timeout=60, what="the service answering")
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as operator:
                assert operator.get(f"/api/directory/households?q={quote(NAME)}").status_code == 401
                signed_in = operator.post("/api/session", json={"name": "operator", "password": "demo-operator-995"})
                assert signed_in.status_code == 200, signed_in.text
                for term in (NAME, ADDRESS, PHONE):
                    found = operator.get("/api/directory/households", params={"q": term})
                    assert found.status_code == 200 and found.json(), term
                assert operator.get(f"/api/lookup/{PHONE}").status_code == 200
        finally:
            service.terminate()
            service.wait(timeout=60)
    logged = log_file.read_text(encoding="utf-8")
    assert "GET /api/directory/households?…" in logged  # the access log is on, query strings cut
    for private in (NAME, ADDRESS, PHONE, quote(NAME), quote(ADDRESS)):
        assert private not in logged, private

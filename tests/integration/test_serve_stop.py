"""`callcenter serve` stopped by SIGTERM (systemd, the demo, an operator) stops cleanly.

uvicorn ends the process by re-raising the signal once it has shut down, so a clean stop must
happen inside the server's own shutdown: the scheduler lease and the instance heartbeat are given
back (the next instance takes over at once, not after the lease runs out).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.db.engine import make_engine
from callcenter.db.incident_tables import LeaseRow
from tests.waiting import wait_for

pytestmark = [pytest.mark.timeout(180)]
ROOT = Path(__file__).resolve().parents[2]


def _free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _leases(url: str) -> list[tuple[str, str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [(row.name, row.holder) for row in conn.execute(select(LeaseRow.name, LeaseRow.holder))]
    except Exception:  # the schema may not exist yet while the service starts
        return []
    finally:
        engine.dispose()


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
            return True
    except urllib.error.HTTPError:  # 503 with its probes: the server answers all the same
        return True
    except OSError:
        return False


@pytest.mark.parametrize("listening", [False, True], ids=["starting", "listening"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_service_and_gives_its_leases_back(tmp_path: Path, sig: signal.Signals,
                                                              listening: bool) -> None:
    port = _free_tcp_port()
    url = f"sqlite:///{tmp_path / 'callcenter.db'}"
    env = {name: value for name, value in os.environ.items() if not name.startswith("CALLCENTER_")}
    env.update({"CALLCENTER_DATA_DIR": str(tmp_path), "CALLCENTER_DATABASE_URL": url,
                "CALLCENTER_ENGINE__INSTANCE_NAME": "stopping-1"})
    log = (tmp_path / "serve.log").open("wb")
    service = subprocess.Popen([sys.executable, "-c", "from callcenter.cli import main; main()", "serve",
                                "--port", str(port)], env=env, cwd=ROOT, stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        held = wait_for(lambda: len(_leases(url)) == 2 and _leases(url), timeout=60,
                        what="the service holding its leases")
        holder = held[0][1]  # instance name and a boot id
        assert holder.startswith("stopping-1#") and sorted(held) == [(f"instance:{holder}", holder),
                                                                     ("scheduler", holder)], held
        if listening:
            wait_for(lambda: _answers(port), timeout=60, what="the HTTP server answering")
        service.send_signal(sig)
        status = service.wait(timeout=60)
        if sig == signal.SIGTERM:  # what systemd expects of a service it stopped
            assert status == 128 + signal.SIGTERM, status
        assert _leases(url) == [], (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
    finally:
        if service.poll() is None:
            service.kill()
            service.wait(timeout=10)
        log.close()

"""scripts/demo.sh runs the real stack on loopback: Kamailio (config/kamailio/demo.cfg), simulated sipp phones
and `callcenter serve` on the SIP channel, in a temp data dir on free ports; scripts/demo-press.sh presses a
household's key over SIP. Ctrl-C (SIGINT to the terminal's process group) or SIGTERM stops all of it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sip.harness import free_udp_range

from callcenter.bootstrap import build
from callcenter.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
HOUSEHOLD = "2001"  # the demo village's first household on a PBX extension (contacts/demo.py)
# What the simulated phone of a number does, by its last digit (config/kamailio/demo.cfg).
OUTCOME_BY_LAST_DIGIT = {**dict.fromkeys("012345", "acknowledged"), "6": "declined", "7": "declined",
                         "8": "busy", "9": "no_answer"}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(what: str, probe: Callable[[], Any], timeout: float, step: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class DemoStack:
    process: subprocess.Popen[bytes]
    data_dir: Path
    env: dict[str, str]
    sip_port: int
    http_port: int
    log: Path

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/health", timeout=2) as response:
                return dict(json.load(response))
        except urllib.error.HTTPError as failed:  # 503: a probe failed, the body still says which
            return dict(json.load(failed))
        except OSError:
            return None

    def registered_health(self) -> dict[str, Any] | None:
        assert self.process.poll() is None, f"demo exited early:\n{self.log_tail()}"
        body = self.health()
        sip = (body or {}).get("probes", {}).get("sip", {})
        return body if sip.get("ok") else None

    def press(self, line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ROOT / "scripts" / "demo-press.sh"), line], env=self.env, capture_output=True,
                              text=True, timeout=60, check=False)

    def stop(self, sig: signal.Signals, whole_group: bool) -> int:
        if whole_group:  # what a terminal's Ctrl-C does
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)
        return self.process.wait(timeout=40)

    def leftovers(self) -> list[str]:
        """Processes still in the demo's process group, or anything still holding its Kamailio port."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                group = os.getpgid(int(entry.name))
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (ProcessLookupError, FileNotFoundError, PermissionError):
                continue
            if group == self.process.pid or f"udp:127.0.0.1:{self.sip_port}" in cmdline:
                found.append(f"{entry.name}: {cmdline}")
        return found

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])

    def kill_all(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.process.wait(timeout=10)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoStack]:
    sip_port, _ = free_udp_range(30)  # Kamailio, phones +1..+4, the service +5, phones' RTP +10..+25
    rtp_low, rtp_high = free_udp_range(48)  # an RTP and an RTCP port per call
    http_port = free_tcp_port()
    data_dir = tmp_path / "var"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CALLCENTER_")}
    env.update({
        "DEMO_SKIP_INSTALL": "1", "DEMO_SIP_PORT": str(sip_port), "CALLCENTER_DATA_DIR": str(data_dir),
        "CALLCENTER_SIP__RTP_PORT_LOW": str(rtp_low), "CALLCENTER_SIP__RTP_PORT_HIGH": str(rtp_high),
        "CALLCENTER_SIP__RING_TIMEOUT": "3", "CALLCENTER_HTTP__PUBLIC_BASE_URL": f"http://127.0.0.1:{http_port}",
    })
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(ROOT / "scripts" / "demo.sh"), "--port", str(http_port)], env=env,
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    stack = DemoStack(process, data_dir, env, sip_port, http_port, log)
    try:
        yield stack
    finally:
        stack.kill_all()  # only if a test failed half-way: a passing test has stopped it already


def call_legs_of_first_attempt(data_dir: Path) -> tuple[dict[str, Any], list[Any]]:
    container = build(load_settings(data_dir=data_dir))
    try:
        incidents = container.incident_store.incidents(10)
        assert len(incidents) == 1, incidents
        legs = container.incident_store.legs(incidents[0].id)
        calls = [leg for leg in legs if leg.channel == "call" and leg.attempt == 1 and leg.purpose == "alert"]
        return {"caller": incidents[0].caller, "status": incidents[0].status}, calls
    finally:
        container.close()


def test_press_over_sip_opens_the_incident_and_every_leg_meets_its_phone(demo: DemoStack) -> None:
    health = wait_for("the service registered at the demo's Kamailio", demo.registered_health, timeout=120)
    assert health["probes"]["sip"]["detail"].startswith("registered"), health
    output = demo.log.read_text(errors="replace")
    assert f"console at http://127.0.0.1:{demo.http_port}/" in output
    assert "operator / demo-operator-995" in output

    pressed = demo.press(HOUSEHOLD)
    assert pressed.returncode == 0, pressed.stderr + demo.log_tail()

    def settled() -> tuple[dict[str, Any], list[Any]] | None:
        incident, calls = call_legs_of_first_attempt(demo.data_dir)
        done = calls and all(leg.status == OUTCOME_BY_LAST_DIGIT[leg.recipient_phone[-1]] for leg in calls)
        return (incident, calls) if done else None

    try:
        incident, calls = wait_for("every neighbour's leg to end as its phone behaves", settled, timeout=60)
    except AssertionError:
        _, calls = call_legs_of_first_attempt(demo.data_dir)
        seen = [(leg.recipient_phone, leg.status) for leg in calls]
        raise AssertionError(f"legs: {seen}\n{demo.log_tail()}") from None
    assert incident["caller"] == HOUSEHOLD
    assert incident["status"] == "acknowledged"
    assert {leg.status for leg in calls} == {"acknowledged", "declined", "busy", "no_answer"}

    assert demo.stop(signal.SIGTERM, whole_group=False) == 128 + signal.SIGTERM
    assert demo.leftovers() == []


def test_ctrl_c_stops_everything_the_demo_started(demo: DemoStack) -> None:
    wait_for("the service registered at the demo's Kamailio", demo.registered_health, timeout=120)
    assert demo.stop(signal.SIGINT, whole_group=True) == 128 + signal.SIGINT
    assert demo.leftovers() == []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as kamailio_port:  # released, usable again
        kamailio_port.bind(("127.0.0.1", demo.sip_port))


def _clean_env(tmp_path: Path, sip_port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CALLCENTER_")}
    env.update({"DEMO_SKIP_INSTALL": "1", "DEMO_SIP_PORT": str(sip_port), "CALLCENTER_DATA_DIR": str(tmp_path)})
    return env


@pytest.mark.parametrize(("args", "message"), [
    ([], "usage: demo-press.sh EXTENSION"),
    (["20o1"], "not a phone line: '20o1'"),
])
def test_press_refuses_a_line_that_is_not_one(tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run([str(ROOT / "scripts" / "demo-press.sh"), *args], env=_clean_env(tmp_path, 5070),
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode != 0
    assert message in done.stderr


def test_press_without_a_running_demo_says_so(tmp_path: Path) -> None:
    nobody, _ = free_udp_range(1)
    done = subprocess.run([str(ROOT / "scripts" / "demo-press.sh"), HOUSEHOLD], env=_clean_env(tmp_path, nobody),
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1
    assert f"no demo Kamailio answers on udp:127.0.0.1:{nobody}" in done.stderr


def test_demo_with_its_ports_taken_stops_with_the_reason_and_leaves_nothing(tmp_path: Path) -> None:
    sip_port, _ = free_udp_range(6)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", sip_port + 5))  # where the service's own SIP phone would go
        process = subprocess.Popen([str(ROOT / "scripts" / "demo.sh"), "--port", str(free_tcp_port())],
                                   env=_clean_env(tmp_path, sip_port), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        output, _ = process.communicate(timeout=120)
    text = output.decode(errors="replace")
    assert process.returncode == 1, text
    assert f"UDP ports taken on 127.0.0.1: {sip_port + 5}" in text
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)

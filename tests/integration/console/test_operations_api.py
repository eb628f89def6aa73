"""Statistics, Prometheus metrics, health probes and the `user add` command over a real database."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from callcenter.adapters.health import ProbeResult
from callcenter.bootstrap import ConsoleContainer
from callcenter.domain.delivery import DeliveryFailure, delivery_detail
from callcenter.domain.types import Actor, CallerTrust, EmergencyType, LegStatus
from callcenter.web.statistics import CST
from tests.integration.console.conftest import LINE_A, LINE_B, NEIGHBOUR_KEY

pytestmark = pytest.mark.slow  # started first (tests/conftest.py): one of the longest files

Clients = Callable[[str | None], TestClient]
ROOT = Path(__file__).resolve().parents[3]


def _scene(console: ConsoleContainer) -> tuple[str, str]:
    engine = console.runtime.engine
    a = engine.key_press(LINE_A, CallerTrust.LOCAL)
    b = engine.key_press(LINE_B, CallerTrust.LOCAL)
    # Before the acknowledgement: one that lands first closes the leg still being handed over.
    call_leg = _dialing_call_leg(console, a.id)
    engine.set_type(a.id, EmergencyType.MEDICAL, Actor("operator", "t"))
    engine.acknowledge_on_behalf(a.id, NEIGHBOUR_KEY, Actor("operator", "t"))
    engine.leg_outcome(call_leg, LegStatus.BUSY, "busy here")
    return a.id, b.id


def _dialing_call_leg(console: ConsoleContainer, incident_id: str) -> str:
    """A call leg the channel has taken (legs are handed over on dispatch threads, after the press returns)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        legs = console.runtime.engine._load(incident_id).legs.values()
        dialing = [leg.id for leg in legs if leg.channel == "call" and leg.status == LegStatus.DIALING]
        if dialing:
            return dialing[0]
        time.sleep(0.02)
    raise AssertionError(f"no call leg of {incident_id} reached the channel within 10 s")


def test_statistics_of_today(console: ConsoleContainer, client_for: Clients) -> None:
    _scene(console)
    today = datetime.now(CST).date()
    body = client_for("supervisor").get("/api/statistics", params={"since": str(today), "until": str(today)}).json()
    assert (body["total"], body["acknowledged"]) == (2, 1)
    assert body["per_day"] == [{"day": str(today), "incidents": 2}]
    assert {t["name"]: t["incidents"] for t in body["by_type"]} == {"急病/受伤": 1, "类型未知": 1}
    assert body["first_ack_p50_seconds"] is not None and body["first_ack_target_seconds"] == 60
    assert body["levels"][0] == {"name": "联防组", "share": 1.0}
    assert {g["grid"]: (g["answered"], g["placed"]) for g in body["grids"]}["第一网格"] == (0, 1)
    page = client_for("supervisor").get("/statistics")
    assert page.status_code == 200 and page.text.count("<svg") == 5


def test_statistics_period_must_make_sense(client_for: Clients) -> None:
    client = client_for("admin")
    assert client.get("/api/statistics?since=2026-03-10&until=2026-03-01").status_code == 422
    assert client.get("/api/statistics?since=2020-01-01&until=2026-03-01").status_code == 422


def test_statistics_of_the_whole_district_for_an_admin(console: ConsoleContainer, client_for: Clients) -> None:
    _scene(console)
    assert client_for("admin").get("/api/statistics").json()["total"] == 2
    assert client_for("grid_worker").get("/api/statistics").status_code == 403


def test_metrics_in_prometheus_text(console: ConsoleContainer, client_for: Clients) -> None:
    _scene(console)
    text = client_for(None).get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    opened = {s.labels["status"]: s.value for s in families["callcenter_incidents_open"].samples}
    assert opened == {"alerting": 2.0, "acknowledged": 0.0}
    legs = {(s.labels["channel"], s.labels["status"]): s.value for s in families["callcenter_alert_legs"].samples}
    assert legs[("call", "busy")] == 1.0
    ack = {s.name: s.value for s in families["callcenter_time_to_first_ack_seconds"].samples}
    assert ack["callcenter_time_to_first_ack_seconds_count"] == 1.0
    assert "callcenter_queue_depth" in families and "callcenter_channel_errors" in families
    assert families["callcenter_incidents_overdue"].samples[0].value == 0.0


def test_metrics_count_incidents_the_auditor_flagged(console: ConsoleContainer, client_for: Clients) -> None:
    _scene(console)
    # A grace an hour below zero makes every pending escalation and leg count as late right now.
    flagged = console.runtime.engine.audit(grace=-timedelta(hours=1))
    assert {o.incident_id for o in flagged} and len({o.incident_id for o in flagged}) == 2
    text = client_for(None).get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["callcenter_incidents_overdue"].samples[0].value == 2.0


def test_health_runs_every_probe_and_a_failing_one_degrades_it(console: ConsoleContainer,
                                                                client_for: Clients) -> None:
    client = client_for(None)
    body = client.get("/health").json()
    assert body["probes"]["scheduler"]["detail"] in ("leader", "standby")

    class SipRegistration:
        name = "sip"

        def check(self) -> ProbeResult:
            return ProbeResult(False, "not registered: 403 from registrar")

    console.health_probes.append(SipRegistration())
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["probes"]["sip"] == {"ok": False, "detail": "not registered: 403 from registrar"}


def test_user_add_command(tmp_path: Path, sqlite_url: str) -> None:
    env = {"CALLCENTER_DATABASE_URL": sqlite_url, "CALLCENTER_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    cli = [str(ROOT / ".venv/bin/callcenter")]
    made = subprocess.run([*cli, "user", "add", "zhao", "--role", "supervisor", "--password-stdin"],
                          input="zhao-password-1\n", capture_output=True, text=True, env=env, timeout=60)
    assert made.returncode == 0, made.stderr
    assert "zhao" in made.stdout and "supervisor" in made.stdout
    no_grid = subprocess.run([*cli, "user", "add", "qian", "--role", "grid_worker", "--password-stdin"],
                             input="qian-password-1\n", capture_output=True, text=True, env=env, timeout=60)
    assert no_grid.returncode == 1 and "needs --grid" in no_grid.stderr
    short = subprocess.run([*cli, "user", "add", "sun", "--role", "operator", "--password-stdin"],
                           input="short\n", capture_output=True, text=True, env=env, timeout=60)
    assert short.returncode == 1 and "at least 10" in short.stderr
    listed = subprocess.run([*cli, "user", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert "zhao" in listed.stdout and "qian" not in listed.stdout




def test_metrics_count_undelivered_texts_by_reason(console: ConsoleContainer, client_for: Clients) -> None:
    engine = console.runtime.engine
    incidents = _scene(console)
    deadline = time.monotonic() + 10
    while len(texts := [leg.id for incident_id in incidents for leg in engine._load(incident_id).legs.values()
                        if leg.channel == "sms" and leg.status == LegStatus.SUBMITTED]) < 2:
        assert time.monotonic() < deadline, f"only {len(texts)} SMS legs were submitted within 10 s"
        time.sleep(0.02)
    engine.leg_outcome(texts[0], LegStatus.UNDELIVERED, delivery_detail(DeliveryFailure.SWITCHED_OFF, "MK:0005"))
    engine.leg_outcome(texts[1], LegStatus.UNDELIVERED, delivery_detail(DeliveryFailure.BLACKLISTED, "MK:0012"))
    engine.leg_outcome(texts[1], LegStatus.UNDELIVERED, "carrier said no")  # moves no more: counted once
    families = {f.name: f for f in text_string_to_metric_families(client_for(None).get("/metrics").text)}
    undelivered = {s.labels["reason"]: s.value for s in families["callcenter_sms_undelivered"].samples}
    assert undelivered == {"switched_off": 1.0, "blacklisted": 1.0}

"""Kamailio restarted during live alert calls, with the real peers: Kamailio (config/kamailio/loopback.cfg),
sipp households and responders, and the service (SIP channel, SQLite) with its HTTP API in this process.

A household presses 995 through Kamailio; its neighbours' phones are two sipp processes: half of the
numbers answer and press 1 only 6 s after the call is up, the other half ring and never answer. While
calls are up and others ring, Kamailio is stopped, then started again on the same port:

- established calls go on: their RTP flows directly between the phones and the service, so the late
  "1" still arrives and is stored as an acknowledgement while Kamailio is down;
- ``/health`` answers 503 with the SIP probe failing and ``/metrics`` reports the SIP probe 0 while
  the service cannot register; both are healthy again once it has re-registered (back-off);
- a key press through the restarted Kamailio opens a new incident;
- no leg is lost: every alert leg of the first incident ends with an outcome, and the unanswered
  neighbours are redialled.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from engine_process import make_site
from fastapi.testclient import TestClient
from sip.harness import Kamailio, Sipp, free_udp_range, register_contact
from sqlalchemy import text

from callcenter.api.app import create_app
from callcenter.bootstrap import ConsoleContainer, build
from callcenter.domain.types import LegStatus
from callcenter.settings import load_settings
from tests.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
REGISTER_EXPIRES = 3  # short bindings, so the lost registrar shows within seconds (docs/sip.md)

# One level that does not climb during the test; nobody reaches the quorum; one redial after 1 s.
POLICY = """
levels:
  - name: 联防组
    operators: true
    targets:
      - {role: household_contact, channels: [call]}
    next_after_seconds: 600
  - name: 网格
    targets:
      - {role: grid_worker, channels: [call]}
quorum:
  acknowledgements: 50
  any_of_roles: []
redial:
  after_seconds: 1
  max_redials: 1
"""


@dataclass
class Stack:
    kamailio: Kamailio
    container: ConsoleContainer
    http: TestClient
    phones: dict[str, Sipp]  # "answers" / "rings": the neighbours' phones
    numbers: dict[str, list[str]]  # the numbers each phone answers for
    callers: list[str]
    work: Path

    def register_phones(self) -> None:
        """What real phones do after a registrar restart forgot them: REGISTER again."""
        for kind, numbers in self.numbers.items():
            for number in numbers:
                register_contact(self.kamailio.port, number, self.phones[kind].port)

    def press(self, caller: str) -> None:
        Sipp("household_call", self.work / "households", remote_port=self.kamailio.port,
             keys={"household": caller, "service": "995"}).start()

    def incident_of(self, caller: str) -> str | None:
        rows = [row.id for row in self.container.incident_store.incidents(100) if row.caller == caller]
        return rows[0] if rows else None

    def legs(self, incident_id: str) -> list[object]:
        return list(self.container.incident_store.legs(incident_id))

    def acks_at_phones(self) -> int:
        """ACKs the answering phone took in its dialogs (the service's ACK of a 2xx passes Kamailio)."""
        log = self.work / "answers.log"
        return log.read_text(errors="replace").count("ACK in dialog") if log.exists() else 0

    def sip_health(self) -> tuple[int, bool, str]:
        response = self.http.get("/health")
        metrics = self.http.get("/metrics").text
        return response.status_code, response.json()["probes"]["sip"]["ok"], metrics


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    site = make_site(tmp_path, groups=2)
    (site.root / "escalation.yaml").write_text(POLICY, encoding="utf-8")
    kamailio = Kamailio(tmp_path / "kamailio").start()
    work = tmp_path / "sipp"
    logs = ["-trace_logs", "-log_file", str(work / "answers.log")]
    phones = {kind: Sipp(scenario, work, calls=500, rate=100,
                         extra=["-recv_timeout", "100000", "-l", "500", *(logs if kind == "answers" else [])]).start()
              for kind, scenario in (("answers", "responder_press_1_late"), ("rings", "responder_never_answers"))}
    low, high = free_udp_range(60)
    settings = load_settings(
        database_url=site.database_url, data_dir=tmp_path,
        engine={"call_channel": "sip", "sms_channel": "simulated", "policy_file": site.root / "escalation.yaml",
                "instance_name": "restart"},
        sip={"registrar_port": kamailio.port, "sip_port": 0, "rtp_port_low": low, "rtp_port_high": high,
             "ring_timeout": 4.0},
    )
    container = build(settings)
    with container.engine.connect() as conn:
        numbers = sorted(str(p) for p in conn.execute(text("SELECT DISTINCT phone FROM responder")).scalars())
    made = Stack(kamailio, container, TestClient(create_app(container)), phones,
                 {"answers": numbers[0::2], "rings": numbers[1::2]}, site.callers, work)
    made.register_phones()
    runtime = container.runtime
    container.sip_service.phone.sip.default_expires = REGISTER_EXPIRES
    runtime.start()
    try:
        assert container.sip_service.phone.wait_registered(10), container.sip_service.registration
        yield made
    finally:
        container.close()
        for phone in phones.values():
            phone.stop()
        made.kamailio.stop()  # the restarted one


def test_calls_registration_and_presses_survive_a_kamailio_restart(stack: Stack) -> None:
    store = stack.container.incident_store
    first, second = stack.callers[:2]
    status, sip_ok, metrics = stack.sip_health()
    assert status == 200 and sip_ok and 'callcenter_health_probe_ok{probe="sip"} 1.0' in metrics

    stack.press(first)
    wait_for(lambda: stack.incident_of(first), 20, "the first incident")
    incident_id = stack.incident_of(first)
    assert incident_id is not None

    def by_status(*statuses: str) -> list[object]:
        return [leg for leg in store.legs(incident_id) if leg.channel == "call" and leg.status in statuses]

    # Calls up (answered and ACKed, the "1" still to come) and others ringing: now the registrar goes away.
    def calls_up() -> bool:
        answered = by_status("answered")
        return bool(answered and by_status("dialing", "ringing")) and stack.acks_at_phones() >= len(answered)

    wait_for(calls_up, 20, "alert calls answered and ringing")
    up_when_stopped = {leg.id for leg in by_status("answered")}
    stack.kamailio.stop()

    # Established calls carry on without Kamailio: their RTP is direct, the late "1" is stored.
    wait_for(lambda: any(leg.id in up_when_stopped for leg in by_status("acknowledged")), 30,
             "an acknowledgement over a call that was up when Kamailio stopped")
    # The service notices it cannot register and says so on /health and /metrics.
    wait_for(lambda: stack.sip_health()[1] is False, 20, "the SIP probe failing")
    status, sip_ok, metrics = stack.sip_health()
    assert status == 503 and not sip_ok
    assert 'callcenter_health_probe_ok{probe="sip"} 0.0' in metrics
    assert stack.http.get("/health").json()["status"] == "degraded"

    stack.kamailio = Kamailio(stack.kamailio.run_dir, port=stack.kamailio.port).start()  # stopped by the fixture
    stack.register_phones()
    # Re-registered (back-off at most 30 s) and healthy again on both.
    wait_for(lambda: stack.sip_health()[0] == 200, 40, "/health healthy again")
    assert 'callcenter_health_probe_ok{probe="sip"} 1.0' in stack.sip_health()[2]

    # A key press through the restarted Kamailio opens an incident, and its neighbours are called.
    stack.press(second)
    wait_for(lambda: stack.incident_of(second), 20, "the incident of a press after the restart")
    second_id = stack.incident_of(second)
    assert second_id is not None
    wait_for(lambda: any(leg.status != "pending" for leg in store.legs(second_id)), 20, "the second incident's calls")

    # No leg lost: every alert leg of the first incident ends with an outcome, the unanswered ones redialled.
    wait_for(lambda: all(LegStatus(leg.status).is_final for leg in store.legs(incident_id)), 60,
             "every leg of the first incident final")
    legs = store.legs(incident_id)
    answering = [leg for leg in legs if leg.recipient_phone in set(stack.numbers["answers"])]
    ringing = [leg for leg in legs if leg.recipient_phone in set(stack.numbers["rings"])]
    assert answering and {leg.status for leg in answering} == {"acknowledged"}
    assert ringing and {leg.status for leg in ringing} <= {"no_answer", "failed"}
    # Each unanswered neighbour was called again (attempt 2), and no further (max_redials 1).
    attempts = {leg.recipient_phone: set() for leg in ringing}
    for leg in ringing:
        attempts[leg.recipient_phone].add(leg.attempt)
    assert all(found == {1, 2} for found in attempts.values()), attempts

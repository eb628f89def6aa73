"""The real ``emergency_inbound`` voice menu heard by a sipp household through Kamailio.

The service is wired by ``callcenter.bootstrap.build`` (real engine on SQLite, SIP channel, IVR flows, real
espeak-ng prompts); keys arrive as RFC 2833 events and the microphone as G.711 audio from sipp's own pcaps.
Neighbours are not registered here: their alert legs fail, which changes nothing in the household's menu.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sip.harness import Kamailio, Sipp, free_udp_range
from sqlalchemy import text

from callcenter.bootstrap import Container, build
from callcenter.db.roster_store import RosterStore
from callcenter.domain.incident import Incident
from callcenter.domain.types import EmergencyType, IncidentStatus, LegPurpose
from callcenter.ivr.engine_actions import SILENT_CALL_NOTE
from callcenter.settings import SipSettings, load_settings
from callcenter.sip.service import SipService
from contacts.demo import generate_roster, scale_for_households

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]
HOUSEHOLD_LINE = "2001"  # the first demo household, on a PBX extension


@pytest.fixture
def service(tmp_path: Path, kamailio: Kamailio) -> Iterator[Container]:
    low, high = free_udp_range(64)
    settings = load_settings(
        data_dir=tmp_path / "data",
        engine={"call_channel": "sip"},
        ivr={"record_max_seconds": 3.0},
        sip={"registrar_port": kamailio.port, "sip_port": 0, "rtp_port_low": low, "rtp_port_high": high,
             "ring_timeout": 3.0, "max_channels": 30},
    )
    container = build(settings)
    container.init_db()
    roster = generate_roster(scale_for_households(10, 1.0), 7, settings.directory.max_group_responders)
    RosterStore(container.engine, settings.directory.phone_policy(), settings.directory.max_group_responders).apply(
        roster)
    container.runtime.start()
    assert container.sip_service.phone.wait_registered(10)
    yield container
    container.close()


def _latest_incident(container: Container) -> Incident | None:
    with container.engine.connect() as conn:
        row = conn.execute(text("SELECT id FROM incident ORDER BY opened_at DESC LIMIT 1")).first()
    if row is None:
        return None
    with container.incident_store.unit_of_work() as uow:
        return uow.incidents.get(str(row[0]))


def _wait_for(container: Container, check: Callable[[Incident], bool], timeout: float) -> Incident | None:
    deadline = time.monotonic() + timeout
    incident = None
    while time.monotonic() < deadline:
        incident = _latest_incident(container)
        if incident is not None and check(incident):
            return incident
        time.sleep(0.25)
    return incident


def _events(container: Container, incident_id: str, kind: str) -> list[dict[str, Any]]:
    return [dict(row.data) for row in container.incident_store.timeline(incident_id) if row.kind == kind]


def _household(scenario: str, tmp_path: Path, kamailio: Kamailio) -> Sipp:
    return Sipp(scenario, tmp_path / "sipp", remote_port=kamailio.port, keys={"household": HOUSEHOLD_LINE},
                extra=["-recv_timeout", "120000"])


def test_silent_call_keeps_type_unknown_notes_it_and_records_the_room(
    service: Container, kamailio: Kamailio, tmp_path: Path
) -> None:
    household = _household("household_silent", tmp_path, kamailio).start()
    try:
        def recorded(incident: Incident) -> bool:
            return bool(_events(service, incident.id, "voice_message"))

        incident = _wait_for(service, recorded, 120)
        assert incident is not None, household.errors()
        notes = [event["text"] for event in _events(service, incident.id, "note")]
        assert SILENT_CALL_NOTE in notes
        messages = _events(service, incident.id, "voice_message")
        assert messages, household.errors()
        recording = Path(messages[0]["path"])
        assert recording.is_file() and recording.stat().st_size > 44  # more than a bare WAV header
        assert incident.emergency_type is EmergencyType.UNKNOWN
        assert incident.status is IncidentStatus.ALERTING  # the silence stopped no alert
    finally:
        household.stop()


def test_pressing_3_sets_the_type_medical(service: Container, kamailio: Kamailio, tmp_path: Path) -> None:
    household = _household("household_medical", tmp_path, kamailio).start()
    try:
        incident = _wait_for(service, lambda i: i.emergency_type is EmergencyType.MEDICAL, 90)
        assert incident is not None, household.errors()
        assert incident.emergency_type is EmergencyType.MEDICAL, household.errors()
        assert incident.status is IncidentStatus.ALERTING
        assert _events(service, incident.id, "type_set")[-1]["type"] == "medical"
    finally:
        household.stop()


def test_pressing_9_and_confirming_cancels_and_plans_cancellation_texts(
    service: Container, kamailio: Kamailio, tmp_path: Path
) -> None:
    household = _household("household_cancel", tmp_path, kamailio)
    assert household.run(timeout=90) == 0, household.errors()  # the service hung up after its goodbye
    incident = _wait_for(service, lambda i: i.status is IncidentStatus.CANCELLED, 10)
    assert incident is not None
    assert incident.status is IncidentStatus.CANCELLED
    cancellations = [leg for leg in incident.legs.values() if leg.purpose is LegPurpose.CANCELLATION]
    assert cancellations, incident.legs
    assert {str(leg.channel) for leg in cancellations} == {"sms"}


def test_inbound_calls_give_their_rtp_port_back(kamailio: Kamailio, tmp_path: Path) -> None:
    """Ten calls one after another on a four-port RTP range: each hang-up frees its port (pyVoIP keeps an
    inbound call's port only on its RTP client, so it used to stay taken until the range ran out)."""
    low, _ = free_udp_range(4)
    settings = SipSettings(registrar_port=kamailio.port, sip_port=0, rtp_port_low=low, rtp_port_high=low + 3)
    service = SipService(settings, on_emergency=lambda caller: None)
    service.start()
    try:
        assert service.phone.wait_registered(10)
        household = Sipp("household_call", tmp_path / "sipp", remote_port=kamailio.port, calls=10, rate=5,
                         keys={"household": HOUSEHOLD_LINE}, extra=["-l", "1", "-recv_timeout", "3000"])
        assert household.run(timeout=60) == 0, household.errors()
        assert not service.phone.assignedPorts
    finally:
        service.stop()

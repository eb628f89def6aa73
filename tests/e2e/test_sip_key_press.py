"""A household's key press through the whole system: sipp household → Kamailio → the 995 service
(real engine on SQLite, IVR flows, SIP channel) → sipp neighbours rung → presses → the database.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sip.harness import Kamailio, Sipp, free_udp_range, register_contact

from callcenter.bootstrap import Container, build
from callcenter.db.roster_store import RosterStore
from callcenter.domain.incident import Incident
from callcenter.domain.types import IncidentStatus, LegPurpose, LegStatus
from callcenter.settings import load_settings
from contacts.demo import generate_roster, scale_for_households

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]
ACKNOWLEDGING = ("3009", "3010", "3011")  # answer and press 1
BUSY = ("3012", "3013")  # reject with 486
HOUSEHOLD_LINE = "2001"  # the first demo household (joint-defense group 1), on a PBX extension


@pytest.fixture
def registrar(tmp_path: Path) -> Iterator[Kamailio]:
    kamailio = Kamailio(tmp_path / "kamailio").start()
    yield kamailio
    kamailio.stop()


@pytest.fixture
def service(tmp_path: Path, registrar: Kamailio) -> Iterator[Container]:
    low, high = free_udp_range(128)  # an RTP and an RTCP port per call
    settings = load_settings(
        data_dir=tmp_path / "data",
        engine={"call_channel": "sip"},
        sip={"registrar_port": registrar.port, "sip_port": 0, "rtp_port_low": low, "rtp_port_high": high,
             "ring_timeout": 5.0, "max_channels": 30},
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


def _incident(container: Container) -> Incident | None:
    ids = container.incident_store.open_incident_ids()
    if not ids:
        return None
    with container.incident_store.unit_of_work() as uow:
        return uow.incidents.get(ids[0])


def _alert_status(incident: Incident, phone: str) -> list[LegStatus]:
    legs = incident.legs.values()
    return [leg.status for leg in legs if leg.recipient.phone == phone and leg.purpose is LegPurpose.ALERT]


def _wait_for(container: Container, check: object, timeout: float) -> Incident | None:
    deadline = time.monotonic() + timeout
    incident = None
    while time.monotonic() < deadline:
        incident = _incident(container)
        if incident is not None and check(incident):  # type: ignore[operator]
            return incident
        time.sleep(0.25)
    return incident


def test_key_press_rings_the_group_and_acknowledgements_reach_the_database(
    service: Container, registrar: Kamailio, tmp_path: Path
) -> None:
    work = tmp_path / "sipp"
    phones = [Sipp("responder_press_1", work) for _ in ACKNOWLEDGING] + [Sipp("responder_486", work) for _ in BUSY]
    for sipp, number in zip(phones, ACKNOWLEDGING + BUSY, strict=True):
        sipp.start()
        register_contact(registrar.port, number, sipp.port)
    household = Sipp("household_call", work, remote_port=registrar.port, keys={"household": HOUSEHOLD_LINE},
                     extra=["-recv_timeout", "3000"])
    try:
        assert household.run(timeout=30) == 0, household.errors()

        def settled(incident: Incident) -> bool:
            acks = all(LegStatus.ACKNOWLEDGED in _alert_status(incident, n) for n in ACKNOWLEDGING)
            busy = all(LegStatus.BUSY in _alert_status(incident, n) for n in BUSY)
            return acks and busy

        incident = _wait_for(service, settled, 90)
        assert incident is not None, "no incident opened for the household's call"
        for number in ACKNOWLEDGING:
            assert LegStatus.ACKNOWLEDGED in _alert_status(incident, number), incident.legs
        for number in BUSY:
            assert LegStatus.BUSY in _alert_status(incident, number), incident.legs
        assert incident.status is IncidentStatus.ACKNOWLEDGED  # quorum: two acknowledgements
        unregistered = [leg for leg in incident.legs.values() if leg.recipient.phone == "3020"]
        assert unregistered and unregistered[0].status in (LegStatus.NO_ANSWER, LegStatus.FAILED)
        for sipp in phones:
            assert sipp.wait(timeout=30) == 0, sipp.errors()
    finally:
        for sipp in [*phones, household]:
            sipp.stop()

"""A household's key press rings its whole joint-defense group through Kamailio, with the phones people
really have: one answers and presses 1, one is busy at first, one rings unheard at first, two stay busy,
five decline. Busy and unanswered legs are redialled, the unheard ring is CANCELled at the ring timeout,
three acknowledgements make the quorum, and the database keeps every leg's outcome.

The escalation policy is a test one written to tmp: quorum 3, redial after 2 s, ring timeout 3 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sip.harness import Kamailio, Sipp, free_udp_range, register_contact

from callcenter.bootstrap import Container, build
from callcenter.db.roster_store import RosterStore
from callcenter.domain.incident import AlertLeg, Incident
from callcenter.domain.types import Channel, IncidentStatus, LegPurpose, LegStatus
from callcenter.settings import load_settings
from contacts.demo import generate_roster, scale_for_households

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]
HOUSEHOLD_LINE = "2001"  # the first demo household; its group's contacts are 3009..3025
PRESSES_AT_ONCE = "3009"
BUSY_THEN_PRESSES = "3010"
UNHEARD_THEN_PRESSES = "3011"
ALWAYS_BUSY = ("3012", "3013")
DECLINE = ("3014", "3015", "3016", "3017", "3018")
POLICY = """
levels:
  - name: group
    operators: true
    targets:
      - role: household_contact
        channels: [call]
quorum:
  acknowledgements: 3
  any_of_roles: []
redial:
  after_seconds: 2
  max_redials: 2
  call_outcomes: [busy, no_answer, failed, answered_without_key]
  sms_outcomes: [failed, undelivered]
ring_timeout_seconds: 3
repeat_press:
  window_seconds: 600
  jump_levels: 1
"""


@pytest.fixture
def registrar(tmp_path: Path) -> Iterator[Kamailio]:
    kamailio = Kamailio(tmp_path / "kamailio").start()
    yield kamailio
    kamailio.stop()


@pytest.fixture
def service(tmp_path: Path, registrar: Kamailio) -> Iterator[Container]:
    policy = tmp_path / "escalation.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    low, high = free_udp_range(128)  # an RTP and an RTCP port per call
    settings = load_settings(
        data_dir=tmp_path / "data",
        engine={"call_channel": "sip", "policy_file": policy},
        sip={"registrar_port": registrar.port, "sip_port": 0, "rtp_port_low": low, "rtp_port_high": high,
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


def _incident(container: Container) -> Incident | None:
    ids = container.incident_store.open_incident_ids()
    if not ids:
        return None
    with container.incident_store.unit_of_work() as uow:
        return uow.incidents.get(ids[0])


def _calls(incident: Incident, phone: str) -> list[AlertLeg]:
    legs = [leg for leg in incident.legs.values() if leg.recipient.phone == phone
            and leg.purpose is LegPurpose.ALERT and leg.channel is Channel.CALL]
    return sorted(legs, key=lambda leg: leg.attempt)


def _wait_for(container: Container, check: Callable[[Incident], bool], timeout: float) -> Incident | None:
    deadline = time.monotonic() + timeout
    incident = None
    while time.monotonic() < deadline:
        incident = _incident(container)
        if incident is not None and check(incident):
            return incident
        time.sleep(0.25)
    return incident


def _then(first: Sipp, second: Sipp, started: list[Sipp]) -> threading.Thread:
    """Answer the redial with ``second`` on the same port once ``first`` has finished its one call."""
    def run() -> None:
        if first.wait(timeout=60) == 0:
            started.append(second.start())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_group_alert_redials_busy_and_unheard_phones_until_three_acknowledge(
    service: Container, registrar: Kamailio, tmp_path: Path
) -> None:
    work = tmp_path / "sipp"
    phones: dict[str, Sipp] = {PRESSES_AT_ONCE: Sipp("responder_press_1", work),
                               BUSY_THEN_PRESSES: Sipp("responder_486", work),
                               UNHEARD_THEN_PRESSES: Sipp("responder_never_answers", work)}
    phones |= {n: Sipp("responder_486", work, calls=3) for n in ALWAYS_BUSY}
    phones |= {n: Sipp("responder_press_2", work) for n in DECLINE}
    for number, sipp in phones.items():
        sipp.start()
        register_contact(registrar.port, number, sipp.port)
    later: list[Sipp] = []
    chains = [_then(phones[n], Sipp("responder_press_1", work, port=phones[n].port), later)
              for n in (BUSY_THEN_PRESSES, UNHEARD_THEN_PRESSES)]
    household = Sipp("household_call", work, remote_port=registrar.port, keys={"household": HOUSEHOLD_LINE},
                     extra=["-recv_timeout", "3000"])
    try:
        assert household.run(timeout=30) == 0, household.errors()
        incident = _wait_for(service, lambda i: i.status is not IncidentStatus.ALERTING, 90)
        assert incident is not None, "no incident opened for the household's call"
        assert incident.status is IncidentStatus.ACKNOWLEDGED, incident.legs
        assert {leg.recipient.phone for leg in incident.legs.values()} >= set(phones)  # ten rung

        assert [leg.status for leg in _calls(incident, PRESSES_AT_ONCE)] == [LegStatus.ACKNOWLEDGED]
        busy_first = [leg.status for leg in _calls(incident, BUSY_THEN_PRESSES)]
        assert busy_first[0] is LegStatus.BUSY and busy_first[-1] is LegStatus.ACKNOWLEDGED, busy_first
        unheard = [leg.status for leg in _calls(incident, UNHEARD_THEN_PRESSES)]
        assert unheard[0] is LegStatus.NO_ANSWER and unheard[-1] is LegStatus.ACKNOWLEDGED, unheard
        for number in ALWAYS_BUSY:
            statuses = [leg.status for leg in _calls(incident, number)]
            assert len(statuses) >= 2 and statuses[0] is LegStatus.BUSY, (number, statuses)
        for number in DECLINE:
            assert [leg.status for leg in _calls(incident, number)] == [LegStatus.DECLINED], number
        assert phones[UNHEARD_THEN_PRESSES].process is not None
        assert phones[UNHEARD_THEN_PRESSES].process.returncode == 0, phones[UNHEARD_THEN_PRESSES].errors()
        for chain in chains:
            chain.join(timeout=5)
        assert len(later) == 2
        for sipp in later:
            assert sipp.wait(timeout=30) == 0, sipp.errors()
    finally:
        for sipp in [*phones.values(), *later, household]:
            sipp.stop()


def _answered_to_end_seconds(container: Container, incident: Incident, leg: AlertLeg) -> float:
    """From the leg's "answered" to its final status, by the incident's stored timeline."""
    times = {str(event.data["status"]): event.at for event in container.incident_store.timeline(incident.id)
             if event.kind == "leg_status" and event.data.get("leg") == leg.id}
    return float((times[str(leg.status)] - times[str(LegStatus.ANSWERED)]).total_seconds())


def test_the_alert_flow_repeats_on_0_and_hangs_up_on_no_key_after_two_repetitions(
    service: Container, registrar: Kamailio, tmp_path: Path
) -> None:
    """The shipped alert_outbound flow over SIP, keys as RFC 2833 from sipp phones."""
    work = tmp_path / "sipp"
    asks_again, listens = DECLINE[0], DECLINE[1]
    phones = {asks_again: Sipp("responder_repeat_then_press_1", work),
              listens: Sipp("responder_listens_without_key", work)}
    for number, sipp in phones.items():
        sipp.start()
        register_contact(registrar.port, number, sipp.port)
    household = Sipp("household_call", work, remote_port=registrar.port, keys={"household": HOUSEHOLD_LINE},
                     extra=["-recv_timeout", "3000"])
    try:
        assert household.run(timeout=30) == 0, household.errors()
        for sipp in phones.values():  # each phone got its BYE: the service hung up, not the phone
            assert sipp.wait(timeout=150) == 0, sipp.errors()
        incident = _wait_for(service, lambda i: all(
            _calls(i, n) and _calls(i, n)[0].status.is_final for n in phones), 30)
        assert incident is not None
        repeated = _calls(incident, asks_again)[0]
        assert repeated.status is LegStatus.ACKNOWLEDGED, repeated  # three 0s, then 1: still on the line
        silent = _calls(incident, listens)[0]
        assert silent.status is LegStatus.ANSWERED_WITHOUT_KEY, silent
        # The menu waits 6 s for a key, three times (the first, then two repetitions), before goodbye.
        assert _answered_to_end_seconds(service, incident, silent) >= 18, silent
    finally:
        for sipp in [*phones.values(), household]:
            sipp.stop()

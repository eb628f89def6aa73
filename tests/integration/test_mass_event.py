"""A small mass event through the real stack: sipp households pressing through Kamailio, the service
(SQLite, SIP channel limited to 10 trunk channels, console API) and the demo's simulated sipp phones
answering mixed. Every press becomes exactly one incident of its own, alert legs are served oldest
press first within the channel limit, and the operators' incident list shows every incident."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import mass_analysis as analysis
from bench.mass_stack import (
    DemoSip,
    Press,
    Service,
    choose_presses,
    households_press,
    start_service,
)
from bench.mass_watch import ScreenProcess, operator_session
from callcenter.db.engine import make_engine, migrate
from callcenter.db.roster_store import RosterStore
from callcenter.settings import load_settings
from contacts.demo import generate_roster, scale_for_households

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
PRESSES, SECONDS, CHANNELS = 60, 10.0, 10


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated directory of ~1,000 households (about 100 joint-defense groups), built once."""
    data_dir = tmp_path_factory.mktemp("directory")
    settings = load_settings(data_dir=data_dir)
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        roster = generate_roster(scale_for_households(1000, 1.0), 7, settings.directory.max_group_responders)
        RosterStore(engine, settings.directory.phone_policy(), settings.directory.max_group_responders).apply(roster)
    finally:
        engine.dispose()
    return data_dir / "callcenter.db"


@pytest.fixture
def sip(tmp_path: Path) -> Iterator[DemoSip]:
    stack = DemoSip(tmp_path / "sip").start()
    yield stack
    stack.stop()


@pytest.fixture
def service(tmp_path: Path, directory: Path, sip: DemoSip) -> Iterator[Service]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(directory, data_dir / "callcenter.db")
    running = start_service(data_dir, sip.port, max_channels=CHANNELS, ring_timeout=3.0, rtp_ports=300)
    yield running
    running.stop()


def _wait_for_incidents(service: Service, count: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    stored = 0
    while time.monotonic() < deadline:
        stored = len(analysis.stored_incidents(service.db_path))
        if stored >= count:
            return stored
        time.sleep(0.5)
    return stored


def _listed_ids(service: Service) -> set[str]:
    with operator_session(service.base_url) as client:
        page = client.get("/api/incidents", params={"open": "true", "order": "newest", "limit": 500})
        page.raise_for_status()
        return {item["id"] for item in page.json()["items"]}


def test_every_press_is_one_incident_served_oldest_first_within_the_limit(
    tmp_path: Path, directory: Path, sip: DemoSip, service: Service,
) -> None:
    presses: list[Press] = choose_presses(service.db_path, PRESSES, seed=7)
    assert sum(p.household_id is None for p in presses) == 3  # 5 % callers the directory does not know
    screen = ScreenProcess(service.base_url).start()
    try:
        households = households_press(tmp_path / "households", sip.port, presses, SECONDS)
        assert households.wait(SECONDS + 90) == 0, households.errors()
        assert _wait_for_incidents(service, PRESSES, timeout=60) >= PRESSES
        time.sleep(3)  # alert calls go on; let the queue serve a few rounds before it is replayed
    finally:
        screen.stop()
    incidents = analysis.stored_incidents(service.db_path)
    accounting = analysis.account(presses, incidents)
    assert accounting.exact, accounting  # 60 incidents, one per pressing household or unknown caller
    assert accounting.unknown_callers == 3
    assert {i.caller for i in incidents} == {p.line for p in presses}
    opened = {i.id: i.opened_at for i in incidents}
    order = analysis.check_queue(service.queue.entries, opened)
    assert order.pops > CHANNELS  # legs had to wait for a channel
    assert order.out_of_order == 0
    assert order.max_calls_up == CHANNELS  # the limit was reached, never exceeded
    assert {i.id for i in incidents} <= _listed_ids(service)
    assert set(opened) <= set(screen.announced)  # each incident reached the live stream
    assert screen.pushed == len(opened)  # each with the row the console shows without a refetch
    assert sip.registrar_out_of_memory() == 0  # Kamailio rang every call it was given

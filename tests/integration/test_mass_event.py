"""A small mass event through the real stack: sipp households pressing through Kamailio, the service
(SQLite, SIP channel limited to a few trunk channels, console API) and the demo's simulated sipp phones
answering mixed. Every press becomes exactly one incident of its own, the trunk is shared fairly
across incidents (service/dial_queue.py) within the channel limit, the operators' incident list shows
every incident; with short level waits, no incident climbs past neighbours never called, and the
upper levels get mass-event summaries instead of a call per incident."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
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


def test_every_press_is_one_incident_and_the_trunk_is_shared_fairly_within_the_limit(
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
    assert order.out_of_order == 0  # each free channel went to the neediest incident
    assert order.max_up_while_others_wait == 1  # no second call while another incident had none up
    assert order.max_calls_up == CHANNELS  # the limit was reached, never exceeded
    assert {i.id for i in incidents} <= _listed_ids(service)
    assert set(opened) <= set(screen.announced)  # each incident reached the live stream
    assert screen.pushed == len(opened)  # each with the row the console shows without a refetch
    assert sip.registrar_out_of_memory() == 0  # Kamailio rang every call it was given


# Short waits, a quorum few incidents meet quickly, and a low mass-event threshold: on a trunk of five
# channels most incidents' calls wait longer than a level's wait.
FLOOD_POLICY = """
levels:
  - name: 联防组
    targets: [{role: household_contact, channels: [call]}]
    next_after_seconds: 4
  - name: 网格
    targets: [{role: grid_worker, channels: [call]}]
    next_after_seconds: 4
  - name: 村站和乡镇
    targets: [{role: village_station, channels: [call]}, {role: township_duty_officer, channels: [call]}]
    next_after_seconds: 4
  - name: 派出所
    targets: [{role: police_station, channels: [call]}]
quorum: {acknowledgements: 3, any_of_roles: []}
redial: {after_seconds: 1, max_redials: 0}
congestion:
  quorum_margin: 1
  mass_event: {open_incidents: 5, summary_from_level: 2, summary_every_seconds: 30}
"""
FLOOD_PRESSES, FLOOD_CHANNELS = 20, 5


@pytest.fixture
def flood_service(tmp_path: Path, directory: Path, sip: DemoSip) -> Iterator[Service]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(directory, data_dir / "callcenter.db")
    policy = tmp_path / "escalation.yaml"
    policy.write_text(FLOOD_POLICY, encoding="utf-8")
    running = start_service(data_dir, sip.port, max_channels=FLOOD_CHANNELS, ring_timeout=3.0, rtp_ports=120,
                            extra={"engine": {"policy_file": str(policy)}})
    yield running
    running.stop()


def _first_placed(db: Path) -> dict[tuple[str, int], float]:
    """(incident, leg level) → when its first call left the queue (dialling or further), from the timeline."""
    placed = ("dialing", "ringing", "answered", "acknowledged", "declined", "answered_without_key", "busy",
              "no_answer", "failed")
    with sqlite3.connect(db) as conn:
        levels = dict(conn.execute("SELECT id, level FROM alert_leg WHERE channel = 'call'").fetchall())
        rows = conn.execute("SELECT incident_id, at, data FROM incident_event WHERE kind = 'leg_status' "
                            "ORDER BY at").fetchall()
    found: dict[tuple[str, int], float] = {}
    for incident_id, at, data in rows:
        event = json.loads(data)
        if event.get("leg") in levels and event.get("status") in placed:
            found.setdefault((incident_id, levels[event["leg"]]), _epoch(at))
    return found


def _epoch(stored: str) -> float:
    moment = datetime.fromisoformat(stored)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _count(db: Path, query: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(query).fetchone()[0] or 0)


def test_in_a_flood_nobody_climbs_past_neighbours_never_called_and_upper_levels_get_summaries(
    tmp_path: Path, sip: DemoSip, flood_service: Service,
) -> None:
    service = flood_service
    presses = [p for p in choose_presses(service.db_path, FLOOD_PRESSES + 5, seed=11) if p.household_id][
        :FLOOD_PRESSES]
    households = households_press(tmp_path / "households", sip.port, presses, 5.0)
    assert households.wait(90) == 0, households.errors()
    assert _wait_for_incidents(service, FLOOD_PRESSES, timeout=60) >= FLOOD_PRESSES
    db = service.db_path

    def climbed_and_summarised() -> bool:
        return (_count(db, "SELECT count(*) FROM incident_event WHERE kind = 'escalation_waits'") > 0
                and _count(db, "SELECT count(*) FROM alert_leg WHERE purpose = 'summary'") > 0)

    deadline = time.monotonic() + 90
    while not climbed_and_summarised() and time.monotonic() < deadline:
        time.sleep(1)
    time.sleep(3)  # a few more rounds of the queue
    # The trunk was full: timers found levels whose calls all waited, and did not climb past them.
    assert _count(db, "SELECT count(*) FROM incident_event WHERE kind = 'escalation_waits'") > 0
    placed = _first_placed(db)
    for (incident_id, level), at in placed.items():
        if level >= 1:
            neighbours = placed.get((incident_id, 0))
            assert neighbours is not None and neighbours <= at, (
                f"incident {incident_id}: a level-{level} call before any of its neighbours was called")
    # Upper levels in the mass event: summaries, and no call of their own per incident.
    assert _count(db, "SELECT count(*) FROM incident_event WHERE kind = 'summarised'") > 0
    assert _count(db, "SELECT count(*) FROM alert_leg WHERE purpose = 'summary' AND channel = 'sms'") > 0
    per_recipient = _count(db, "SELECT max(n) FROM (SELECT count(*) AS n FROM alert_leg WHERE purpose = 'summary' "
                               "GROUP BY recipient_phone)")
    assert per_recipient <= 2  # one every 30 s at most (the run lasts under a minute and a half)
    order = analysis.check_queue(service.queue.entries, {})
    assert order.out_of_order == 0 and order.max_up_while_others_wait == 1
    assert order.max_calls_up == FLOOD_CHANNELS
    assert sip.registrar_out_of_memory() == 0

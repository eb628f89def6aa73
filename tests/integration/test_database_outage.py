"""A key press while PostgreSQL refuses every connection is alerted at once and stored afterwards.

The outage is real, of two kinds: the test database closed to connections (``ALTER DATABASE ...
ALLOW_CONNECTIONS false``) with every backend of it terminated, or a PostgreSQL server of the test's
own stopped at once (``pg_ctl stop -m immediate``, as in a crash) and started again, with crash
recovery. Phones are the "recording" channel, whose placement log (fsynced before each reply) tells
what was placed, even across ``kill -9``.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pytest
from engine_process import TIME_SCALE, Site, leg_rows, make_site, unfinished
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from callcenter.adapters.clock import SystemClock
from callcenter.api.app import create_app
from callcenter.bootstrap import ConsoleContainer, build
from callcenter.db.directory_repo import SqlDirectory
from callcenter.db.engine import make_engine
from callcenter.db.incident_repo import SqlIncidentStore, SqlUnitOfWork
from callcenter.db.snapshot import database_unavailable
from callcenter.domain.incident import Incident
from callcenter.domain.plan import plan_fan_out
from callcenter.domain.types import CallerTrust, Channel, LegStatus
from callcenter.policies import load_policy
from callcenter.service.outage import DegradedMode, ReplayHooks, Report
from callcenter.service.replay import STORED_AFTER_OUTAGE
from callcenter.service.spool import PressSpool
from callcenter.settings import load_settings
from tests.postgres_server import PostgresServer
from tests.waiting import wait_for

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

# As shipped but slow enough that the first incident's escalation falls due during the outage, and a
# quorum nobody reaches, so escalation must go on after it.
OUTAGE_POLICY = """
levels:
  - name: 联防组
    operators: true
    targets:
      - {role: household_contact, channels: [call, sms]}
      - {role: grid_worker, channels: [sms]}
    next_after_seconds: 3
  - name: 网格
    targets:
      - {role: grid_worker, channels: [call]}
      - {role: grid_centre_household, channels: [call]}
    next_after_seconds: 1
  - name: 村站和乡镇
    targets:
      - {role: village_station, channels: [call]}
      - {role: township_duty_officer, channels: [call]}
    next_after_seconds: 1
  - name: 派出所
    urgent: true
    targets:
      - {role: police_station, channels: [call]}
quorum:
  acknowledgements: 99
  any_of_roles: []
redial:
  after_seconds: 1
  max_redials: 1
"""


class Outage(Protocol):
    def begin(self) -> None: ...

    def end(self) -> None: ...


@dataclass
class DatabaseClosed:
    """Closes and reopens one database of the shared test server to every connection."""

    admin_url: str
    database: str

    def begin(self) -> None:
        self._run(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS false')
        self._run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db "
                  "AND pid <> pg_backend_pid()", db=self.database)

    def end(self) -> None:
        self._run(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS true')

    def _run(self, sql: str, **params: Any) -> None:
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(sql), params)
        finally:
            admin.dispose()


@dataclass
class ServerRestart:
    """The whole server of the test's own stops at once (as in a crash) and is started again."""

    server: PostgresServer

    def begin(self) -> None:
        self.server.stop()

    def end(self) -> None:
        if not self.server.running():
            self.server.start()


@pytest.fixture
def outage_database(request: pytest.FixtureRequest) -> Iterator[tuple[str, Outage]]:
    """The site's database and how it goes away: ``closed`` (the default) or ``restart``."""
    if getattr(request, "param", "closed") == "closed":
        url = request.getfixturevalue("postgres_url")
        database = make_url(url).database
        assert database is not None
        closed = DatabaseClosed(request.getfixturevalue("postgres_admin_url"), database)
        yield url, closed
        closed.end()  # the test database must be droppable whatever happened
        return
    server = PostgresServer()
    try:
        server.start()
        admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('CREATE DATABASE "outage"'))
        admin.dispose()
        yield server.url("outage"), ServerRestart(server)
    finally:
        server.close()


@pytest.fixture
def site(tmp_path: Path, outage_database: tuple[str, Outage]) -> Site:
    site = make_site(tmp_path, groups=3, database_url=outage_database[0])
    (site.root / "escalation.yaml").write_text(OUTAGE_POLICY, encoding="utf-8")
    return site


@pytest.fixture
def outage(outage_database: tuple[str, Outage]) -> Outage:
    return outage_database[1]


@pytest.fixture
def container(site: Site) -> Iterator[ConsoleContainer]:
    settings = load_settings(
        database_url=site.database_url, data_dir=site.root, log_level="WARNING",
        engine={"instance_name": "solo", "call_channel": "recording", "sms_channel": "recording",
                "placement_log": site.log.path, "simulated_time_scale": TIME_SCALE,
                "policy_file": site.root / "escalation.yaml", "lease_seconds": 1.5},
    )
    container = build(settings)
    yield container
    container.close()


def placed(site: Site, incident_id: str) -> list[str]:
    return [p["leg"] for p in site.log.read() if p["leg"].startswith(incident_id + "/")]


def timeline_kinds(store: SqlIncidentStore, incident_id: str) -> list[str]:
    return [row.kind for row in store.timeline(incident_id)]


def stored(store: SqlIncidentStore, incident_id: str) -> bool:
    try:
        return store.incident_row(incident_id) is not None
    except Exception:  # still refused: the database is not back yet
        return False


@pytest.mark.postgres
@pytest.mark.parametrize("outage_database", ["closed", "restart"], indirect=True)
def test_a_press_during_the_outage_is_alerted_spooled_and_stored_when_the_database_is_back(
    site: Site, outage: Outage, container: ConsoleContainer,
) -> None:
    store = site.store
    runtime = container.runtime
    runtime.start()
    api = TestClient(create_app(container))
    container.directory_snapshot.refresh()  # what the runtime's job does 10 s after start
    first = runtime.engine.key_press(site.callers[0], CallerTrust.LOCAL)
    wait_for(lambda: len(placed(site, first.id)) >= 3, 30, "the first incident alerting")

    outage.begin()
    second = runtime.engine.key_press(site.callers[1], CallerTrust.LOCAL)
    # Alerted at once from the snapshot: the household was found, its neighbours are rung.
    assert second.household_id is not None
    level0 = {leg.id for leg in second.legs.values() if leg.level == 0}
    # Generous bounds: a liveness check on a loaded 2-core machine; bench/outage.py measures the time.
    wait_for(lambda: set(placed(site, second.id)) == level0, 60,
               f"the spooled press's level-0 legs placed: {len(placed(site, second.id))} of {len(level0)}")
    spooled = container.degraded_mode.spool.waiting()
    opened = [r for r in spooled if r.kind == "opened"]
    assert [(r.incident_id, r.at) for r in opened] == [(second.id, second.opened_at)]
    assert {leg for r in spooled if r.kind == "claimed" for leg in r.data["legs"]} == level0

    health = api.get("/health")
    assert health.status_code == 503
    detail = health.json()["probes"]["outage"]["detail"]
    assert "degraded: database unreachable" in detail and "1 spooled incidents" in detail
    metrics = api.get("/metrics").text
    assert "callcenter_database_up 0.0" in metrics and "callcenter_spooled_incidents 1.0" in metrics
    assert "callcenter_directory_snapshot_age_seconds" in metrics
    first_level = first.level
    time.sleep(3.5)  # the first incident's next escalation falls due while the database is away

    outage.end()
    wait_for(lambda: stored(store, second.id), 30, "the spooled incident stored")
    wait_for(lambda: not unfinished(store), 60, f"every escalation finished: {unfinished(store)}")

    row = store.incident_row(second.id)
    assert row.opened_at == second.opened_at  # its own press time, not the time it was stored
    assert STORED_AFTER_OUTAGE in timeline_kinds(store, second.id)
    legs = leg_rows(store)
    # Placed during the outage, stored as claimed and placed by this instance: never placed again.
    assert all(legs[leg].claimed_by == container.holder and legs[leg].status != "pending" for leg in level0)
    assert [leg for leg, n in Counter(p["leg"] for p in site.log.read()).items() if n > 1] == []
    # Escalation went on for both: the first incident's timer resumed, the spooled one climbed.
    assert store.incident_row(first.id).level > first_level
    assert row.level > 0
    assert api.get("/health").json()["probes"]["outage"]["ok"] is True
    assert container.degraded_mode.spool.waiting() == []


@pytest.mark.postgres
def test_killed_during_the_outage_after_the_press_it_is_stored_once_after_restart(
    site: Site, outage: Outage,
) -> None:
    caller = site.callers[1]
    spool = site.root / "outage" / "node" / "spool"
    try:
        warm = site.start("warm", [], instance="node")  # runs long enough to copy the directory
        wait_for(lambda: any((site.root / "outage" / "node" / "snapshot").glob("directory-*.sqlite")), 120,
                   f"a directory snapshot\n{warm.output()}")
        warm.kill()

        outage.begin()
        during = site.start("during", [caller], instance="node")
        wait_for(lambda: caller in during.incidents(), 60, f"the press taken\n{during.output()}")
        incident_id = during.incidents()[caller]
        wait_for(lambda: len(placed(site, incident_id)) >= 5, 60, "level-0 legs being placed")
        during.kill()  # kill -9 in the middle of the fan-out, the database still away
        placed_during = {p["leg"] for p in site.log.read() if p["pid"] == during.pid}
        opened = [r for r in spooled_records(spool) if r["kind"] == "opened"]
        assert [r["incident"] for r in opened] == [incident_id]

        outage.end()
        after = site.start("after", [], instance="node")
        store = site.store
        wait_for(lambda: stored(store, incident_id), 60, f"the spooled incident stored\n{after.output()}")
        wait_for(lambda: not unfinished(store), 90, f"every escalation finished: {unfinished(store)}")
        after.kill()
    finally:
        site.stop_all()

    row = store.incident_row(incident_id)
    assert row.opened_at == datetime.fromisoformat(opened[0]["at"])
    assert [r.id for r in store.incidents(limit=100) if r.household_id == row.household_id] == [incident_id]
    assert STORED_AFTER_OUTAGE in timeline_kinds(store, incident_id)
    legs = leg_rows(store)
    # Every attempt placed at most once, across the kill, the replay and the restart.
    assert [leg for leg, n in Counter(p["leg"] for p in site.log.read()).items() if n > 1] == []
    # What the killed process placed is stored as its claim, and was not placed again.
    assert placed_during and all((legs[leg].claimed_by or "").startswith("node#") for leg in placed_during)
    assert all(legs[leg].status != "pending" for leg in placed_during)
    # Calls that died with it were closed as interrupted and the recipient reached by the next attempt.
    interrupted = [leg for leg in legs.values() if leg.interrupted]
    assert interrupted  # calls ring for 0.4 s or more: the kill caught some
    for leg in interrupted:
        assert leg.id.rsplit("/", 1)[0] + f"/{leg.attempt + 1}" in legs
    assert row.level > 0 and row.status == "alerting"


def spooled_records(spool: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(spool.glob("*.jsonl")) for line in path.read_text().splitlines()
            if line.strip()]


# -- replay on its own: two instances, and a replay cut short -------------------------------------

SPOOLED_BY = "node#aaaaaa"


def spool_presses(site: Site, spool_dir: Path) -> dict[str, set[str]]:
    """Presses of every site caller taken in degraded mode (as during an outage): incident → legs placed."""
    engine = make_engine(site.database_url)
    directory = SqlDirectory(engine)
    policy = load_policy(site.root / "escalation.yaml")
    mode = DegradedMode(PressSpool(spool_dir), SqlIncidentStore(engine), policy, SystemClock(), SPOOLED_BY,
                        database_unavailable)
    placed_legs: dict[str, set[str]] = {}
    for n, caller in enumerate(site.callers):
        found = directory.household_by_caller(caller)
        assert found is not None
        now = datetime.now(UTC)
        opened = Incident.open(f"outage-{n}", caller, found.household.id, found.household.label,
                               found.household.address, plan_fan_out(found, policy, caller), policy, now,
                               trust=CallerTrust.TRUNK, hold=False)
        incident, legs = mode.press(f"h:{found.household.id}", now, True, CallerTrust.TRUNK,
                                    lambda opened=opened: opened, lambda leg: f"recording-{leg.channel}")
        mode.take_reports(incident.id, [Report(leg.id, LegStatus.DIALING if leg.channel is Channel.CALL
                                               else LegStatus.SUBMITTED) for leg in legs])
        placed_legs[incident.id] = {leg.id for leg in legs}
    directory.close()
    engine.dispose()
    return placed_legs


def no_call_survives(provider: str) -> bool:
    return False


def replayer(spool_dir: Path, store: SqlIncidentStore, site: Site, holder: str) -> DegradedMode:
    return DegradedMode(PressSpool(spool_dir), store, load_policy(site.root / "escalation.yaml"), SystemClock(),
                        holder, database_unavailable)


def assert_stored_once(store: SqlIncidentStore, placed_legs: dict[str, set[str]]) -> None:
    assert {row.id for row in store.incidents(limit=100)} == set(placed_legs)
    for incident_id, legs in placed_legs.items():
        timeline = store.timeline(incident_id)
        assert [e.kind for e in timeline].count(STORED_AFTER_OUTAGE) == 1
        handed_over = Counter(e.data["leg"] for e in timeline
                              if e.kind == "leg_status" and e.data["status"] in ("dialing", "submitted"))
        assert handed_over == Counter(legs)  # each spooled hand-over applied exactly once
        rows = {leg.id: leg for leg in store.legs(incident_id)}
        assert all(rows[leg].claimed_by == SPOOLED_BY for leg in legs)


class DatabaseGoneAgain(SqlIncidentStore):
    """The store of a replay cut short: the database goes away again after ``units`` units of work."""

    def __init__(self, engine: Engine, units: int) -> None:
        super().__init__(engine)
        self.units = units

    def unit_of_work(self) -> SqlUnitOfWork:
        if self.units <= 0:
            raise OperationalError("connect", {}, Exception("server closed the connection unexpectedly"))
        self.units -= 1
        return super().unit_of_work()


@pytest.mark.postgres
def test_two_instances_replaying_the_same_records_store_each_once(site: Site, tmp_path: Path) -> None:
    placed_legs = spool_presses(site, tmp_path / "spool-a")
    shutil.copytree(tmp_path / "spool-a", tmp_path / "spool-b")
    stored_by: list[str] = []
    hooks = ReplayHooks(no_call_survives, lambda incident: stored_by.append(incident.id))
    modes = [replayer(tmp_path / f"spool-{name}", site.store, site, SPOOLED_BY) for name in ("a", "b")]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda mode: mode.replay(hooks), modes))
    assert_stored_once(site.store, placed_legs)
    assert sorted(set(stored_by)) == sorted(placed_legs)
    assert all(mode.spool.waiting() == [] and mode.state().spooled_records == 0 for mode in modes)


@pytest.mark.postgres
def test_a_replay_cut_short_is_finished_after_a_restart_without_doubles(site: Site, tmp_path: Path) -> None:
    placed_legs = spool_presses(site, tmp_path / "spool")
    assert len(placed_legs) == 3
    engine = make_engine(site.database_url)
    cut = replayer(tmp_path / "spool", DatabaseGoneAgain(engine, units=2), site, SPOOLED_BY)
    unheard = ReplayHooks(no_call_survives, lambda incident: None)
    cut.replay(unheard)  # two incidents stored, then the database is gone again
    assert len(site.store.incidents(limit=100)) == 2
    assert cut.state().spooled_records > 0 and cut.spool.waiting()

    restarted = replayer(tmp_path / "spool", site.store, site, SPOOLED_BY)
    assert restarted.state().spooled_incidents == 3  # from the files: the process kept nothing
    restarted.replay(unheard)
    assert_stored_once(site.store, placed_legs)
    assert restarted.spool.waiting() == []
    engine.dispose()


# -- SQLite: a database file locked by another process ----------------------------------------------

def test_a_locked_sqlite_file_spools_the_press_and_stores_it_once_released(tmp_path: Path) -> None:
    """Another process holds SQLite's write lock: reads go on (WAL) but nothing can be stored.

    The service waits out SQLite's busy timeout before it gives up on a write; the test shortens it
    to half a second (production: 30 s) so that the press goes to the spool quickly.
    """
    site = make_site(tmp_path, groups=2)
    (site.root / "escalation.yaml").write_text(OUTAGE_POLICY, encoding="utf-8")
    settings = load_settings(
        database_url=site.database_url, data_dir=site.root, log_level="WARNING",
        engine={"instance_name": "solo", "call_channel": "recording", "sms_channel": "recording",
                "placement_log": site.log.path, "simulated_time_scale": TIME_SCALE,
                "policy_file": site.root / "escalation.yaml", "lease_seconds": 1.5},
    )
    container = build(settings)

    @event.listens_for(container.engine, "connect")
    def _short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=500")

    database_file = make_url(site.database_url).database
    assert database_file is not None
    locker = sqlite3.connect(database_file, isolation_level=None)
    try:
        container.runtime.start()
        container.directory_snapshot.refresh()
        locker.execute("BEGIN EXCLUSIVE")
        incident = container.runtime.engine.key_press(site.callers[0], CallerTrust.LOCAL)
        level0 = {leg.id for leg in incident.legs.values() if leg.level == 0}
        wait_for(lambda: set(placed(site, incident.id)) == level0, 60, "level-0 legs placed while locked")
        assert [r.kind for r in container.degraded_mode.spool.waiting()][:2] == ["opened", "claimed"]
        probe = next(p for p in container.health_probes if p.name == "outage").check()
        assert not probe.ok and "has not stored the spool" in probe.detail
        locker.execute("ROLLBACK")

        store = site.store
        wait_for(lambda: stored(store, incident.id), 30, "the spooled incident stored")
        wait_for(lambda: store.incident_row(incident.id).level > 0, 30, "escalation resumed")
    finally:
        locker.close()
        container.close()
    assert store.incident_row(incident.id).opened_at == incident.opened_at
    assert STORED_AFTER_OUTAGE in timeline_kinds(store, incident.id)
    assert [leg for leg, n in Counter(p["leg"] for p in site.log.read()).items() if n > 1] == []

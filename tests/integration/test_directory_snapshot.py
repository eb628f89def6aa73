"""The local directory snapshot: the same answers as the database, refreshed when the roster changes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text

from callcenter.db.directory_repo import SqlDirectory
from callcenter.db.engine import make_engine, migrate
from callcenter.db.roster_store import RosterStore
from callcenter.db.snapshot import TABLES, DirectorySnapshot, SnapshotClosed
from contacts.demo import VILLAGE, generate_roster
from tests.waiting import wait_for

pytestmark = [pytest.mark.timeout(120)]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    migrate(database_url)
    engine = make_engine(database_url)
    RosterStore(engine).apply(generate_roster(VILLAGE, seed=7))
    yield engine
    engine.dispose()


def all_lines(directory: SqlDirectory, engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [row.number for row in conn.execute(TABLES[5].select())]


def test_the_snapshot_answers_every_line_as_the_database_does(engine: Engine, tmp_path: Path) -> None:
    database = SqlDirectory(engine)
    snapshot = DirectorySnapshot(tmp_path, engine)
    assert snapshot.household_by_caller(all_lines(database, engine)[0]) is None  # no copy yet: nothing known
    snapshot.refresh()
    lines = all_lines(database, engine)
    assert len(lines) > 100
    for number in lines[::7]:
        assert snapshot.household_by_caller(number) == database.household_by_caller(number)
    found = database.household_by_caller(lines[0])
    assert found is not None
    neighbour = found.neighbours[0].phone
    assert snapshot.is_known_number(neighbour) and not snapshot.is_known_number("+8613900000000")
    assert snapshot.household_by_id(found.household.id) == found
    assert snapshot.households > 100
    database.close()
    snapshot.close()


def test_it_copies_again_only_when_the_directory_changed_or_the_copy_is_old(engine: Engine, tmp_path: Path) -> None:
    snapshot = DirectorySnapshot(tmp_path, engine, max_age_seconds=600)
    now = datetime.now(UTC)
    assert snapshot.refresh_if_changed(now)  # none yet
    assert not snapshot.refresh_if_changed(now)
    with engine.begin() as conn:  # a roster import added a responder
        conn.execute(insert(TABLES[6]).values(name="新志愿者", phone="+8613900000001", role="volunteer",
                                              scope_level="grid", scope_id=1, scope_key="grid:1"))
    assert snapshot.refresh_if_changed(now)
    assert snapshot.is_known_number("+8613900000001")
    assert snapshot.refresh_if_changed(datetime.now(UTC) + timedelta(seconds=601))  # old: copied again anyway
    assert len(list(tmp_path.glob("directory-*.sqlite"))) == 1  # older copies are removed
    snapshot.close()


def test_a_restarted_service_uses_the_copy_on_disk(engine: Engine, tmp_path: Path) -> None:
    first = DirectorySnapshot(tmp_path, engine)
    first.refresh()
    first.close()
    restarted = DirectorySnapshot(tmp_path, engine)
    age = restarted.age_seconds(datetime.now(UTC))
    assert age is not None and age < 60
    assert not restarted.refresh_if_changed(datetime.now(UTC))  # unchanged and fresh: no second copy
    number = all_lines(SqlDirectory(engine), engine)[3]
    assert restarted.household_by_caller(number) is not None
    restarted.close()


def _copy_children() -> list[int]:
    """Pids of snapshot copy processes whose parent is this test process."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or b"callcenter.db.snapshot" not in (entry / "cmdline").read_bytes():
                continue
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        if parent == os.getpid():
            found.append(int(entry.name))
    return found


@pytest.mark.postgres
def test_closing_stops_a_copy_under_way_and_leaves_no_process(postgres_url: str, tmp_path: Path) -> None:
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    RosterStore(engine).apply(generate_roster(VILLAGE, seed=7))
    snapshot = DirectorySnapshot(tmp_path, engine)
    outcome: list[BaseException | None] = []
    with engine.connect() as holder:  # an import holding the responders: the copy waits for it
        holder.execute(text("LOCK TABLE responder IN ACCESS EXCLUSIVE MODE"))

        def copy() -> None:
            try:
                snapshot.refresh((1,))
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        copying = threading.Thread(target=copy)
        copying.start()
        wait_for(_copy_children, timeout=30, what="the copy process started")
        snapshot.close()
        copying.join(timeout=30)
        holder.rollback()
    assert len(outcome) == 1 and isinstance(outcome[0], SnapshotClosed), outcome
    assert _copy_children() == []
    assert list(tmp_path.iterdir()) == []  # nothing half-written (nor its journal) is left behind
    assert not snapshot.refresh_if_changed(datetime.now(UTC))  # closed: no new copy starts
    engine.dispose()


def test_a_copy_whose_service_died_exits_on_its_own(tmp_path: Path) -> None:
    # A "service" starts a copy and dies without closing anything. The copy's input stays open here,
    # so it stays busy (as a long read from the database would keep it) unless it notices.
    busy_in, busy_out = os.pipe()
    try:
        service = subprocess.run([sys.executable, "-c", (
            "import os, subprocess, sys\n"
            "child = subprocess.Popen([sys.executable, '-m', 'callcenter.db.snapshot', str(os.getpid())],\n"
            f"                         stdin={busy_in}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
            "print(child.pid, flush=True)\n")], pass_fds=(busy_in,), capture_output=True, text=True, timeout=60,
            check=True)
        orphan = int(service.stdout.split()[-1])

        def gone() -> bool:
            try:
                state = Path(f"/proc/{orphan}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except FileNotFoundError:
                return True
            return state == "Z"

        wait_for(gone, timeout=30, what="the orphaned copy process exited")
    finally:
        os.close(busy_in)
        os.close(busy_out)

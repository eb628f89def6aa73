"""A local, read-only copy of the directory: households are found while the database is away.

The directory tables (towns to responders, with their indexes) are copied into a fresh SQLite file
``directory-<taken>.sqlite`` in the instance's outage directory; the lookup runs on it with the same
one-statement query as on the database (``SqlDirectory``). A refresh writes a new file and swaps
readers, so a lookup never sees half a copy; the file outlives the process, so a service restarted
during an outage still finds its households.

How stale: ``refresh_if_changed`` (every ``check_seconds``) copies again when the directory's
fingerprint (row counts and highest ids of households, lines and responders) moved, which a roster
import does, and in any case once the copy is ``max_age_seconds`` old (edits in place, such as a
corrected address, are caught then).

The copy runs in a child process at lower CPU priority (``python -m callcenter.db.snapshot``, its
arguments on stdin so the database password is not on a command line): copying a district takes
seconds of Python work that, in the service's own process, would hold the interpreter lock and
slow key presses down (docs/benchmarks.md, "Database outage"). The child never outlives the
service: ``close`` stops a copy under way, and a child whose parent died exits on its own.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, func, insert, select, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import SQLModel

from callcenter.db import tables as _tables  # noqa: F401  (registers the directory tables)
from callcenter.db.directory_repo import SqlDirectory
from contacts.model import CallerLookup
from contacts.phones import DEFAULT_POLICY, PhonePolicy

__all__ = ["TABLES", "DirectorySnapshot", "SnapshotClosed", "database_unavailable"]

log = logging.getLogger(__name__)
# Parents first: every row's foreign key finds its parent already copied.
TABLES: tuple[Table, ...] = tuple(SQLModel.metadata.tables[name] for name in (
    "town", "village", "grid", "joint_defense_group", "household", "emergency_line", "responder"))
_CHUNK = 5_000
# SQLite errors that mean "cannot use the database file now", not "bad statement".
_SQLITE_UNAVAILABLE = ("locked", "readonly", "read-only", "unable to open", "disk i/o", "disk is full",
                       "no such table")


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached or written, rather than a bad request."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        orig = exc.orig
        return not isinstance(orig, sqlite3.Error) or _sqlite_unavailable(orig)
    if isinstance(exc, sqlite3.OperationalError):
        return _sqlite_unavailable(exc)
    driver_error = type(exc).__module__.startswith("psycopg") and type(exc).__name__ in ("OperationalError",
                                                                                       "InterfaceError")
    return driver_error or isinstance(exc, PoolTimeout | ConnectionError)


def _sqlite_unavailable(exc: BaseException) -> bool:
    message = str(exc).lower()
    return any(part in message for part in _SQLITE_UNAVAILABLE)


class DirectorySnapshot:
    """Reads households from the newest local copy; ``refresh`` makes a new copy from ``source``."""

    def __init__(self, directory: Path, source: Engine, policy: PhonePolicy = DEFAULT_POLICY,
                 max_age_seconds: float = 600.0) -> None:
        self.directory, self.source, self.policy, self.max_age_seconds = directory, source, policy, max_age_seconds
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._path: Path | None = None
        self._reader: SqlDirectory | None = None
        self._engine: Engine | None = None
        self._taken_at: datetime | None = None
        self.households = 0
        self._fingerprint: tuple[int, ...] | None = None
        self._copying: subprocess.Popen[str] | None = None
        self._closed = False

    # -- reading -----------------------------------------------------------------------------

    def household_by_caller(self, number: str) -> CallerLookup | None:
        reader = self._current()
        return None if reader is None else reader.household_by_caller(number)

    def household_by_id(self, household_id: int) -> CallerLookup | None:
        reader = self._current()
        return None if reader is None else reader.household_by_id(household_id)

    def is_known_number(self, number: str) -> bool:
        reader = self._current()
        return reader is not None and reader.is_known_number(number)

    def taken_at(self) -> datetime | None:
        self._current()
        return self._taken_at

    def age_seconds(self, now: datetime) -> float | None:
        taken = self.taken_at()
        return None if taken is None else max(0.0, (now - taken).total_seconds())

    def _current(self) -> SqlDirectory | None:
        """The reader of the newest copy on disk (another process may have written a newer one)."""
        newest = self._newest()
        with self._lock:
            if newest is not None and newest != self._path:
                self._open(newest)
            return self._reader

    def _newest(self) -> Path | None:
        files = sorted(self.directory.glob("directory-*.sqlite"))
        return files[-1] if files else None

    def _open(self, path: Path) -> None:
        engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
        with engine.connect() as conn:
            taken, households, fingerprint = conn.execute(
                text("SELECT taken_at, households, fingerprint FROM snapshot_meta")).one()
        old = self._engine
        self._path, self._reader, self._engine = path, SqlDirectory(engine, self.policy), engine
        self._taken_at, self.households = datetime.fromisoformat(taken), int(households)
        self._fingerprint = tuple(int(n) for n in str(fingerprint).split(",") if n)
        if old is not None:
            old.dispose()

    # -- refreshing --------------------------------------------------------------------------

    def refresh_if_changed(self, now: datetime) -> bool:
        """Copy again when the directory changed or the copy is too old; True when it copied."""
        fingerprint = self._fingerprint_of()
        age = self.age_seconds(now)  # opens the newest copy on disk first: a restart need not copy again
        if age is not None and age < self.max_age_seconds and fingerprint == self._fingerprint:
            return False
        try:
            self.refresh(fingerprint)
        except SnapshotClosed:  # the service is stopping; the copy on disk stays the newest
            log.info("directory snapshot: copy stopped, the service is stopping")
            return False
        return True

    def refresh(self, fingerprint: tuple[int, ...] | None = None) -> Path:
        """A new copy of the directory tables, then readers switch to it and older copies go."""
        with self._refresh_lock:
            started = time.monotonic()
            taken_at = datetime.now(UTC)
            path = self.directory / f"directory-{time.time_ns():020d}.sqlite"
            partial = path.with_suffix(".partial")
            households = self._copy_in_child(partial, taken_at, fingerprint or self._fingerprint_of())
            partial.rename(path)
            with self._lock:
                self._open(path)
            for older in [*self.directory.glob("directory-*.sqlite"), *self.directory.glob("*.partial*")]:
                if older != path:  # older copies, and copies a killed process left half-written
                    older.unlink(missing_ok=True)
            log.info("directory snapshot: %d households copied in %.1f s", households, time.monotonic() - started)
            return path

    def _fingerprint_of(self) -> tuple[int, ...]:
        h, line, r = (TABLES[4], TABLES[5], TABLES[6])
        with self.source.connect() as conn:
            return (*conn.execute(select(func.count(), func.coalesce(func.max(h.c.id), 0))).one(),
                    conn.execute(select(func.count()).select_from(line)).scalar_one(),
                    *conn.execute(select(func.count(), func.coalesce(func.max(r.c.id), 0))).one())

    def _copy_in_child(self, path: Path, taken_at: datetime, fingerprint: tuple[int, ...]) -> int:
        job = {"source": self.source.url.render_as_string(hide_password=False), "path": str(path),
               "taken_at": taken_at.isoformat(), "fingerprint": list(fingerprint)}
        with self._lock:
            if self._closed:
                raise SnapshotClosed("directory snapshot closed before its copy started")
            child = self._copying = subprocess.Popen(
                [sys.executable, "-m", "callcenter.db.snapshot", str(os.getpid())], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = child.communicate(json.dumps(job), timeout=_COPY_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate()
        finally:
            with self._lock:
                self._copying = None
        if child.returncode != 0:
            _remove_copy(path)
            if self._closed:
                raise SnapshotClosed("directory snapshot closed while copying")
            raise RuntimeError(f"directory snapshot copy failed (exit {child.returncode}): {err.strip()[-2000:]}")
        return int(out.strip().splitlines()[-1])

    def close(self) -> None:
        """Readers go, and a copy under way is stopped: the service leaves no child behind."""
        with self._lock:
            self._closed = True
            child = self._copying
            if child is not None:
                child.kill()
            if self._engine is not None:
                self._engine.dispose()
            self._reader = self._engine = self._path = None
        if child is not None:
            child.wait(timeout=10)
            for partial in self.directory.glob("*.partial*"):  # now, not when the copying thread wakes
                partial.unlink(missing_ok=True)


def _remove_copy(path: Path) -> None:
    """A copy that did not finish, with the journal SQLite leaves beside it when the copier is killed."""
    for leftover in (path, *(path.with_name(path.name + suffix) for suffix in ("-journal", "-wal", "-shm"))):
        leftover.unlink(missing_ok=True)


class SnapshotClosed(RuntimeError):
    """The snapshot was closed (the service is stopping) while a copy was wanted or under way."""


_COPY_TIMEOUT = 900.0  # seconds; a province-sized directory copies in minutes
_PARENT_CHECK_SECONDS = 1.0


def _exit_when_orphaned(parent: int) -> None:
    """A copy whose service died (killed, no ``close``) stops within a second rather than run on."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_CHECK_SECONDS)
        os._exit(3)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _child_main() -> None:
    """The copy, in a process of its own (see the module docstring); prints the household count.

    The service passes its pid: a service that died while this process started is noticed too.
    """
    _exit_when_orphaned(int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid())
    job = json.loads(sys.stdin.read())
    os.nice(10)  # the service's key presses come first on a small machine
    source = create_engine(job["source"])
    try:
        households = _copy(source, Path(job["path"]), datetime.fromisoformat(job["taken_at"]),
                           tuple(int(n) for n in job["fingerprint"]))
    finally:
        source.dispose()
    print(households)


def _copy(source: Engine, path: Path, taken_at: datetime, fingerprint: tuple[int, ...]) -> int:
    """Every directory row into a new SQLite file at ``path``; returns the number of households."""
    path.unlink(missing_ok=True)
    target = create_engine(f"sqlite:///{path}")
    try:
        for table in TABLES:
            table.create(target)
        read_options: dict[str, Any] = {"isolation_level": "REPEATABLE READ"} \
            if source.dialect.name == "postgresql" else {}
        with source.connect().execution_options(**read_options) as src, target.begin() as dst:
            for table in TABLES:  # parents first; one read transaction sees one state of the directory
                _copy_table(src, dst, table)
            households = int(dst.execute(select(func.count()).select_from(TABLES[4])).scalar_one())
            dst.execute(text("CREATE TABLE snapshot_meta (taken_at TEXT, households INTEGER, fingerprint TEXT)"))
            dst.execute(text("INSERT INTO snapshot_meta VALUES (:t, :n, :f)"),
                        {"t": taken_at.isoformat(), "n": households, "f": ",".join(map(str, fingerprint))})
    finally:
        target.dispose()
    return households


def _copy_table(src: Any, dst: Any, table: Table) -> None:
    result = src.execution_options(yield_per=_CHUNK).execute(select(table))
    for rows in result.partitions(_CHUNK):
        dst.execute(insert(table), [dict(row._mapping) for row in rows])


if __name__ == "__main__":
    _child_main()

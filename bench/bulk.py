"""Bulk loading of synthetic rosters for benchmarks, far faster than the roster store.

It assigns ids itself and writes rows straight into the migrated directory tables: one transaction of
big ``executemany`` batches on SQLite, ``COPY`` on PostgreSQL. Only for empty scratch databases: it
does none of the store's validation or merging. Several databases can be filled from one pass over
the generator, so millions of households are generated once.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine

from contacts.model import Role, ScopeLevel
from contacts.roster.records import HouseholdRecord, ResponderRecord, Roster

Row = tuple[Any, ...]

# Column order of every row this module writes, per table.
COLUMNS: dict[str, tuple[str, ...]] = {
    "town": ("id", "name"),
    "village": ("id", "town_id", "name"),
    "grid": ("id", "village_id", "name"),
    "joint_defense_group": ("id", "grid_id", "name"),
    "household": ("id", "code", "group_id", "head", "label", "address", "care_flags", "residents",
                  "key_holders", "notes"),
    "emergency_line": ("number", "household_id"),
    "responder": ("id", "name", "phone", "role", "scope_level", "scope_id", "scope_key", "household_id",
                  "position"),
}
_SCOPE_LEVELS = (ScopeLevel.TOWN, ScopeLevel.VILLAGE, ScopeLevel.GRID, ScopeLevel.GROUP)


class Writer(Protocol):
    seconds: float  # time spent writing, so one pass can time several databases apart

    def write(self, table: str, rows: Sequence[Row]) -> None: ...

    def finish(self) -> None: ...


@dataclass
class Rows:
    """One chunk of a roster turned into table rows."""

    tables: dict[str, list[Row]] = field(default_factory=lambda: {name: [] for name in COLUMNS})


class IdAssigner:
    """Gives every place, household and responder an id, remembering places by their name path."""

    def __init__(self) -> None:
        self._places: dict[tuple[str, ...], int] = {}
        self._household_id = 0
        self._responder_id = 0

    def rows(self, roster: Roster) -> Rows:
        out = Rows()
        for household in roster.households:
            self._household(household, out)
        for responder in roster.responders:
            self._responder(responder, out)
        return out

    def place(self, path: tuple[str, ...], out: Rows) -> int:
        known = self._places.get(path)
        if known is not None:
            return known
        parent = self.place(path[:-1], out) if len(path) > 1 else None
        ident = len(self._places) + 1
        self._places[path] = ident
        table = ("town", "village", "grid", "joint_defense_group")[len(path) - 1]
        out.tables[table].append((ident, path[-1]) if parent is None else (ident, parent, path[-1]))
        return ident

    def _household(self, record: HouseholdRecord, out: Rows) -> None:
        group_id = self.place(record.group_path, out)
        self._household_id += 1
        hid = self._household_id
        out.tables["household"].append((
            hid, record.code, group_id, record.head, record.label or f"{record.group} {record.head}家",
            record.address, _json(sorted(record.care_flags)), _json(list(record.residents)),
            _json([{"name": k.name, "phone": k.phone} for k in record.key_holders]), record.notes,
        ))
        out.tables["emergency_line"].extend((number, hid) for number in record.lines)
        for position, contact in enumerate(record.contacts):
            self._responder_id += 1
            out.tables["responder"].append((
                self._responder_id, contact.name, contact.phone, Role.HOUSEHOLD_CONTACT.value,
                ScopeLevel.GROUP.value, group_id, f"group:{group_id}", hid, position,
            ))

    def _responder(self, record: ResponderRecord, out: Rows) -> None:
        scope_id = self.place(record.scope, out)
        level = _SCOPE_LEVELS[len(record.scope) - 1].value
        self._responder_id += 1
        out.tables["responder"].append((
            self._responder_id, record.name, record.phone, record.role.value, level, scope_id,
            f"{level}:{scope_id}", None, 0,
        ))


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


class SqliteWriter:
    """One transaction of executemany batches; the journal is off because a crash just means rerun."""

    def __init__(self, engine: Engine) -> None:
        self._raw = engine.raw_connection()
        self._cursor = self._raw.cursor()
        self._cursor.execute("PRAGMA journal_mode=OFF")
        self._cursor.execute("PRAGMA synchronous=OFF")
        self._cursor.execute("BEGIN")
        self.seconds = 0.0

    def write(self, table: str, rows: Sequence[Row]) -> None:
        started = time.perf_counter()
        columns = COLUMNS[table]
        marks = ", ".join("?" * len(columns))
        self._cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
        self.seconds += time.perf_counter() - started

    def finish(self) -> None:
        started = time.perf_counter()
        self._cursor.execute("COMMIT")
        self._cursor.execute("PRAGMA journal_mode=WAL")
        self._cursor.execute("ANALYZE")
        self._raw.close()
        self.seconds += time.perf_counter() - started


class PostgresWriter:
    """COPY into each table inside one transaction, then ANALYZE so the planner knows the sizes."""

    def __init__(self, engine: Engine) -> None:
        self._raw = engine.raw_connection()
        self._conn: Any = self._raw.driver_connection
        self.seconds = 0.0

    def write(self, table: str, rows: Sequence[Row]) -> None:
        started = time.perf_counter()
        with self._conn.cursor() as cursor, cursor.copy(
            f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        self.seconds += time.perf_counter() - started

    def finish(self) -> None:
        started = time.perf_counter()
        self._conn.commit()
        self._conn.autocommit = True
        self._conn.execute("VACUUM ANALYZE")
        self._conn.autocommit = False
        self._raw.close()
        self.seconds += time.perf_counter() - started


def writer_for(engine: Engine) -> Writer:
    return SqliteWriter(engine) if engine.dialect.name == "sqlite" else PostgresWriter(engine)


@dataclass
class LoadResult:
    households: int = 0
    lines: int = 0
    generate_seconds: float = 0.0
    sample: list[str] = field(default_factory=list)  # emergency lines drawn uniformly while loading


def bulk_load(chunks: Iterable[Roster], writers: Sequence[Writer], sample_size: int, seed: int) -> LoadResult:
    """Write every chunk to every writer; keep a uniform sample of lines (reservoir sampling)."""
    ids, result, rng = IdAssigner(), LoadResult(), random.Random(seed)
    started = time.perf_counter()
    spent_writing = 0.0
    batch: dict[str, list[Row]] = {name: [] for name in COLUMNS}
    for chunk in chunks:
        rows = ids.rows(chunk)
        for table, table_rows in rows.tables.items():
            batch[table].extend(table_rows)
        result.households += len(rows.tables["household"])
        _sample_lines(rows.tables["emergency_line"], result, rng, sample_size)
        if len(batch["household"]) >= 50_000:
            spent_writing += _flush(batch, writers)
    spent_writing += _flush(batch, writers)
    for writer in writers:
        writer.finish()
    result.generate_seconds = time.perf_counter() - started - spent_writing
    return result


def _flush(batch: dict[str, list[Row]], writers: Sequence[Writer]) -> float:
    """Write parents before children (foreign keys), then empty the batch; returns seconds spent."""
    started = time.perf_counter()
    for table in COLUMNS:
        if batch[table]:
            for writer in writers:
                writer.write(table, batch[table])
            batch[table] = []
    return time.perf_counter() - started


def _sample_lines(lines: list[Row], result: LoadResult, rng: random.Random, size: int) -> None:
    for number, _household in lines:
        result.lines += 1
        if len(result.sample) < size:
            result.sample.append(number)
            continue
        slot = rng.randrange(result.lines)
        if slot < size:
            result.sample[slot] = number

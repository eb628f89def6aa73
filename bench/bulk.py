"""Bulk loading of synthetic rosters for benchmarks, far faster than the roster store.

It assigns ids itself and writes rows straight into the migrated directory tables: one transaction of
big ``executemany`` batches on SQLite, ``COPY`` on PostgreSQL. Only for empty scratch databases: it
does none of the store's validation or merging. Several databases can be filled from one pass over
the generator, so millions of households are generated once.
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine, inspect

from contacts.model import CareFlag, Role, ScopeLevel
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
        self._flag_texts: dict[frozenset[CareFlag], str] = {}

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
            record.address, self._flags_json(record.care_flags), _json(list(record.residents)),
            _json([{"name": k.name, "phone": k.phone} for k in record.key_holders]) if record.key_holders else "[]",
            record.notes,
        ))
        out.tables["emergency_line"].extend((number, hid) for number in record.lines)
        for position, contact in enumerate(record.contacts):
            self._responder_id += 1
            out.tables["responder"].append((
                self._responder_id, contact.name, contact.phone, Role.HOUSEHOLD_CONTACT.value,
                ScopeLevel.GROUP.value, group_id, f"group:{group_id}", hid, position,
            ))

    def _flags_json(self, flags: frozenset[CareFlag]) -> str:
        # A few dozen combinations among millions of households: encode each once.
        text = self._flag_texts.get(flags)
        if text is None:
            text = self._flag_texts[flags] = _json([f.value for f in CareFlag if f in flags])
        return text

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


def secondary_indexes(engine: Engine) -> list[tuple[str, str, list[str]]]:
    """(table, index, columns) of the plain indexes the migrations made: cheaper built once after the load."""
    inspector = inspect(engine)
    return [
        (table, str(index["name"]), [str(c) for c in index["column_names"]])
        for table in COLUMNS
        for index in inspector.get_indexes(table)
        if not index["unique"] and not index.get("duplicates_constraint")
    ]


class SqliteWriter:
    """One transaction of executemany batches; the journal is off because a crash just means rerun."""

    def __init__(self, engine: Engine) -> None:
        self._indexes = secondary_indexes(engine)
        self._raw = engine.raw_connection()
        self._cursor = self._raw.cursor()
        self._cursor.execute("PRAGMA journal_mode=OFF")
        self._cursor.execute("PRAGMA synchronous=OFF")
        self._cursor.execute("BEGIN")
        for _table, name, _columns in self._indexes:
            self._cursor.execute(f"DROP INDEX {name}")
        self.seconds = 0.0

    def write(self, table: str, rows: Sequence[Row]) -> None:
        started = time.perf_counter()
        columns = COLUMNS[table]
        marks = ", ".join("?" * len(columns))
        self._cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
        self.seconds += time.perf_counter() - started

    def finish(self) -> None:
        started = time.perf_counter()
        for table, name, columns in self._indexes:
            self._cursor.execute(f"CREATE INDEX {name} ON {table} ({', '.join(columns)})")
        self._cursor.execute("COMMIT")
        self._cursor.execute("PRAGMA journal_mode=WAL")
        self._cursor.execute("ANALYZE")
        self._raw.close()
        self.seconds += time.perf_counter() - started


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(rows: Sequence[Row]) -> str:
    """Rows in COPY's text format: tab-separated, \\N for NULL, backslash escapes where needed."""
    text = "".join("\t".join([r"\N" if v is None else str(v) for v in row]) + "\n" for row in rows)
    width = len(rows[0]) if rows else 0
    nulls = sum(v is None for row in rows for v in row)
    if text.count("\\") == nulls and "\r" not in text and text.count("\n") == len(rows) and (
        text.count("\t") == len(rows) * (width - 1)
    ):
        return text  # no value held a special character: the common case, without escaping each value
    return "".join(
        "\t".join([r"\N" if v is None else str(v).translate(_COPY_ESCAPES) for v in row]) + "\n" for row in rows
    )


class PostgresWriter:
    """COPY (text format, built here: much faster than row by row) into each table in one transaction."""

    def __init__(self, engine: Engine) -> None:
        self._indexes = secondary_indexes(engine)
        self._raw = engine.raw_connection()
        driver = self._raw.driver_connection
        assert driver is not None
        self._conn: Any = driver  # psycopg's own connection, for COPY
        for _table, name, _columns in self._indexes:
            self._conn.execute(f"DROP INDEX {name}")
        self.seconds = 0.0

    def write(self, table: str, rows: Sequence[Row]) -> None:
        started = time.perf_counter()
        with self._conn.cursor() as cursor, cursor.copy(
            f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN"
        ) as copy:
            copy.write(copy_text(rows))
        self.seconds += time.perf_counter() - started

    def finish(self) -> None:
        started = time.perf_counter()
        for table, name, columns in self._indexes:
            self._conn.execute(f"CREATE INDEX {name} ON {table} ({', '.join(columns)})")
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
    generate_seconds: float = 0.0  # generating and turning into rows, while the writers work alongside
    wall_seconds: float = 0.0
    sample: list[str] = field(default_factory=list)  # emergency lines drawn uniformly while loading


Batch = dict[str, list[Row]]
BATCH_HOUSEHOLDS = 50_000


class _Background:
    """Runs one writer in its own thread, so the database ingests while the next batch is generated.

    The drivers release the GIL while the database works, so on two cores generation overlaps the load.
    """

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self._queue: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def put(self, batch: Batch | None) -> None:
        self._queue.put(batch)

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            while (batch := self._queue.get()) is not None:
                for table in COLUMNS:  # parents before children: foreign keys
                    if batch[table]:
                        self.writer.write(table, batch[table])
            self.writer.finish()
        except BaseException as exc:  # handed to the caller by join()
            self._error = exc
            while self._queue.get() is not None:  # let the producer finish instead of blocking on put
                pass


def bulk_load(chunks: Iterable[Roster], writers: Sequence[Writer], sample_size: int, seed: int) -> LoadResult:
    """Write every chunk to every writer; keep a uniform sample of lines (reservoir sampling)."""
    ids, result, rng = IdAssigner(), LoadResult(), random.Random(seed)
    workers = [_Background(w) for w in writers]
    started = time.perf_counter()
    batch: Batch = {name: [] for name in COLUMNS}
    waited = 0.0
    for chunk in chunks:
        rows = ids.rows(chunk)
        for table, table_rows in rows.tables.items():
            batch[table].extend(table_rows)
        result.households += len(rows.tables["household"])
        _sample_lines(rows.tables["emergency_line"], result, rng, sample_size)
        if len(batch["household"]) >= BATCH_HOUSEHOLDS:
            waited += _hand_over(batch, workers)
            batch = {name: [] for name in COLUMNS}
    waited += _hand_over(batch, workers)
    result.generate_seconds = time.perf_counter() - started - waited
    for worker in workers:
        worker.put(None)
    for worker in workers:
        worker.join()
    result.wall_seconds = time.perf_counter() - started
    return result


def _hand_over(batch: Batch, workers: Sequence[_Background]) -> float:
    """Queue the batch for every writer; returns the seconds spent waiting for a full queue."""
    started = time.perf_counter()
    for worker in workers:
        worker.put(batch)
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

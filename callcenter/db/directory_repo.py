"""SQL implementation of the directory reader: caller lookup and household profiles."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import (
    JSON,
    CompoundSelect,
    Engine,
    String,
    bindparam,
    cast,
    create_engine,
    func,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.exc import DBAPIError

from callcenter.db.tables import (
    EmergencyLine,
    Grid,
    Household,
    JointDefenseGroup,
    ResponderRow,
    Town,
    Village,
    scope_key,
)
from contacts.model import (
    CallerLookup,
    CareFlag,
    Contact,
    HouseholdProfile,
    Place,
    Responder,
    Role,
    ScopeLevel,
    order_responders,
)
from contacts.phones import DEFAULT_POLICY, PhonePolicy, try_normalise

__all__ = ["SqlDirectory", "lookup_engine"]

log = logging.getLogger(__name__)

_h, _g, _gr, _v, _t = (
    Household.__table__,  # type: ignore[attr-defined]
    JointDefenseGroup.__table__,  # type: ignore[attr-defined]
    Grid.__table__,  # type: ignore[attr-defined]
    Village.__table__,  # type: ignore[attr-defined]
    Town.__table__,  # type: ignore[attr-defined]
)
_line = EmergencyLine.__table__  # type: ignore[attr-defined]
_resp = ResponderRow.__table__  # type: ignore[attr-defined]

_PLACE_COLUMNS = (
    _t.c.id.label("town_id"), _t.c.name.label("town"),
    _v.c.id.label("village_id"), _v.c.name.label("village"),
    _gr.c.id.label("grid_id"), _gr.c.name.label("grid"),
    _g.c.id.label("group_id"), _g.c.name.label("group_name"),
)
_HOUSEHOLD_FROM = (
    _h.join(_g, _g.c.id == _h.c.group_id)
    .join(_gr, _gr.c.id == _g.c.grid_id)
    .join(_v, _v.c.id == _gr.c.village_id)
    .join(_t, _t.c.id == _v.c.town_id)
)
# The household's own group_id would clash with the place's group_id label; the place carries it.
_HOUSEHOLD_COLUMNS = tuple(c for c in _h.c if c.name != "group_id")
_RESPONDER_FIELDS = (
    _resp.c.id, _resp.c.name, _resp.c.phone, _resp.c.role, _resp.c.scope_level, _resp.c.scope_id,
    _resp.c.household_id, _resp.c.position,
)
# JSON aggregates by dialect: (aggregate, row constructor). Both are built in (SQLite's JSON1 since 3.38).
_LEVEL_COLUMNS = (
    (ScopeLevel.GROUP, _g.c.id),
    (ScopeLevel.GRID, _gr.c.id),
    (ScopeLevel.VILLAGE, _v.c.id),
    (ScopeLevel.TOWN, _t.c.id),
)
_JSON_FUNCTIONS = {
    "postgresql": (func.json_agg, func.json_build_array),
    "sqlite": (func.json_group_array, func.json_array),
}


def _lookup_queries(dialect: str) -> dict[str, Any]:
    """The three lookups as single statements: household, place, lines and responders in one row.

    A key press must reach its neighbours fast: one statement is one round trip, where a query per
    part cost three plus a transaction on PostgreSQL. Lines and responders come back as JSON arrays.
    """
    aggregate, array = _JSON_FUNCTIONS.get(dialect, _JSON_FUNCTIONS["postgresql"])
    other_line = _line.alias("other_line")
    lines = select(aggregate(other_line.c.number, type_=JSON)).where(other_line.c.household_id == _h.c.id)
    keys = [_scope_key_sql(level, column) for level, column in _LEVEL_COLUMNS]
    responders = select(aggregate(array(*_RESPONDER_FIELDS), type_=JSON)).where(_resp.c.scope_key.in_(keys))
    base = select(
        *_HOUSEHOLD_COLUMNS, *_PLACE_COLUMNS,
        lines.scalar_subquery().label("lines"), responders.scalar_subquery().label("responders"),
    )
    return {
        "line": base.select_from(_line.join(_HOUSEHOLD_FROM, _h.c.id == _line.c.household_id)).where(
            _line.c.number == bindparam("number")
        ),
        "id": base.select_from(_HOUSEHOLD_FROM).where(_h.c.id == bindparam("hid")),
        "code": base.select_from(_HOUSEHOLD_FROM).where(_h.c.code == bindparam("code")),
    }


def _scope_key_sql(level: ScopeLevel, column: Any) -> Any:
    """``scope_key(level, id)`` in SQL, so the responder index is probed inside the same statement."""
    prefix = scope_key(level, 0).removesuffix("0")  # "group:", spelt by the one function that writes keys
    return literal_column(f"'{prefix}'", String) + cast(column, String)


_KNOWN_NUMBER: CompoundSelect[Any] = union_all(
    select(literal_column("1")).where(_line.c.number == bindparam("number")),
    select(literal_column("1")).where(_resp.c.phone == bindparam("number")),
).limit(1)

LOOKUP_POOL_SIZE = 4  # connections kept per process; a burst may open twice as many more


def lookup_engine(engine: Engine) -> Engine:
    """The engine for lookups: on PostgreSQL a pool of its own, tuned for one-statement reads.

    - Autocommit, set once per connection: a single statement needs no BEGIN/ROLLBACK round trips.
    - No reset on return and no churn: psycopg prepares the lookup on a connection after a few uses
      and keeps it prepared for as long as the connection lives (a ROLLBACK or DISCARD would not
      drop it, but a new connection starts unprepared).
    - No pre-ping: it costs a round trip per lookup (~85 µs). A connection that died (server
      restart, terminated backend) is caught by ``SqlDirectory`` instead, which discards the pool's
      connections and retries once on a fresh one.

    Not on SQLite: its driver starts no transaction for a SELECT anyway, and SQLAlchemy switches the
    level there with a PRAGMA that makes SQLite re-prepare the lookup statement on every call.
    """
    if engine.dialect.name == "sqlite":
        return engine
    return create_engine(
        engine.url, isolation_level="AUTOCOMMIT", pool_pre_ping=False, pool_reset_on_return=None,
        pool_size=LOOKUP_POOL_SIZE, max_overflow=2 * LOOKUP_POOL_SIZE, pool_use_lifo=True,
    )


def _driver_sql(engine: Engine, queries: dict[str, Any]) -> dict[str, str] | None:
    """The lookups as psycopg SQL text, on PostgreSQL; None elsewhere."""
    if engine.dialect.driver != "psycopg":
        return None
    return {name: str(query.compile(dialect=engine.dialect)) for name, query in queries.items()}


class SqlDirectory:
    """Reads the directory. Every lookup is one indexed statement (see ``lookup_engine``)."""

    def __init__(self, engine: Engine, policy: PhonePolicy = DEFAULT_POLICY) -> None:
        self._engine = lookup_engine(engine)
        self._owns_engine = self._engine is not engine
        self._policy = policy
        self._queries = _lookup_queries(engine.dialect.name)
        self._driver_sql = _driver_sql(self._engine, self._queries)

    def close(self) -> None:
        """Close the lookup pool (PostgreSQL); the engine given to the constructor is left alone."""
        if self._owns_engine:
            self._engine.dispose()

    def household_by_caller(self, number: str) -> CallerLookup | None:
        canonical = try_normalise(number, self._policy)
        if canonical is None:
            return None
        return self._lookup("line", {"number": canonical})

    def household_by_id(self, household_id: int) -> CallerLookup | None:
        return self._lookup("id", {"hid": household_id})

    def household_by_code(self, code: str) -> CallerLookup | None:
        return self._lookup("code", {"code": code})

    def is_known_number(self, number: str) -> bool:
        """Whether ``number`` is a household's emergency line or a responder's phone (toll-fraud guard).

        Two primary-key/indexed probes in one statement; an unparseable number is never known.
        """
        canonical = try_normalise(number, self._policy)
        if canonical is None:
            return False
        with self._engine.connect() as conn:
            return conn.execute(_KNOWN_NUMBER, {"number": canonical}).first() is not None

    def _lookup(self, query: str, params: dict[str, Any]) -> CallerLookup | None:
        row = self._first_row(query, params)
        if row is None:
            return None
        responders = [_responder(r) for r in row.responders or ()]
        own, neighbours, upper = order_responders(responders, row.id)
        lines = tuple(sorted(row.lines or ()))
        return CallerLookup(_profile(row, lines), _place(row), own, neighbours, upper)

    def _first_row(self, query: str, params: dict[str, Any]) -> Any:
        """Run one lookup; when its pooled connection turns out dead, once more on a fresh one."""
        try:
            return self._execute(query, params)
        except _ConnectionLost as lost:
            log.warning("directory connection lost (%s); retrying the lookup once", lost)
        return self._execute(query, params)

    def _execute(self, query: str, params: dict[str, Any]) -> Any:
        if self._driver_sql is not None:
            return self._execute_on_driver(self._driver_sql[query], params)
        try:
            with self._engine.connect() as conn:
                return conn.execute(self._queries[query], params).first()
        except DBAPIError as exc:
            if exc.connection_invalidated:  # SQLAlchemy has already discarded the pool's older connections
                raise _ConnectionLost(type(exc.orig).__name__) from exc
            raise

    def _execute_on_driver(self, sql: str, params: dict[str, Any]) -> Any:
        """The statement straight on the pooled psycopg connection, prepared on first use.

        SQLAlchemy's statement execution and result wrapping cost more than the server's work for
        this one-row read (~0.1 ms a lookup); the pool is still SQLAlchemy's.
        """
        raw = self._engine.raw_connection()
        try:
            with raw.driver_connection.cursor(row_factory=namedtuple_row) as cursor:  # type: ignore[union-attr]
                cursor.execute(sql, params, prepare=True)
                return cursor.fetchone()
        except psycopg.Error as exc:
            if not self._engine.dialect.is_disconnect(exc, raw.dbapi_connection, None):  # type: ignore[arg-type]
                raise
            raw.invalidate(exc)
            self._engine.dispose()  # the server went away: every pooled connection is as dead as this one
            raise _ConnectionLost(type(exc).__name__) from exc
        finally:
            raw.close()


class _ConnectionLost(Exception):
    """The lookup's pooled connection was dead (server restart, terminated backend)."""


def _place(row: Any) -> Place:
    return Place(
        town_id=row.town_id, town=row.town, village_id=row.village_id, village=row.village,
        grid_id=row.grid_id, grid=row.grid, group_id=row.group_id, group=row.group_name,
    )


def _profile(row: Any, lines: tuple[str, ...]) -> HouseholdProfile:
    return HouseholdProfile(
        id=row.id,
        code=row.code,
        label=row.label,
        head=row.head,
        address=row.address,
        emergency_lines=lines,
        care_flags=frozenset(CareFlag(f) for f in row.care_flags),
        residents=tuple(row.residents),
        key_holders=tuple(Contact(k["name"], k["phone"]) for k in row.key_holders),
        notes=row.notes,
    )


_ROLES = {role.value: role for role in Role}
_LEVELS = {level.value: level for level in ScopeLevel}


def _responder(fields: Sequence[Any]) -> Responder:
    ident, name, phone, role, level, scope_id, household_id, position = fields
    return Responder(
        id=ident, name=name, phone=phone, role=_ROLES[role], scope=_LEVELS[level], scope_id=scope_id,
        household_id=household_id, position=position,
    )

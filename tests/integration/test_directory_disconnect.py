"""The caller lookup outlives its database connections (PostgreSQL).

The lookup pool does without a pre-ping round trip, so a connection the server dropped (a
restart, an administrator terminating backends) is discovered by the lookup itself, which must
then succeed on a fresh connection: a key press is never turned into an "unknown caller" by a
stale pool.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from test_directory_lookup import CALLER, CALLER_LANDLINE, insert_directory

from callcenter.db.directory_repo import SqlDirectory
from callcenter.db.engine import make_engine, migrate

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(60)]


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    insert_directory(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def directory(engine: Engine) -> Iterator[SqlDirectory]:
    directory = SqlDirectory(engine)
    yield directory
    directory.close()


def terminate_backends(admin_url: str, database: str) -> int:
    """What a server restart does to our pooled connections: every backend of ``database`` killed."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            killed = conn.execute(text(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database}).scalar_one()
    finally:
        admin.dispose()
    return int(killed)


def caller_household(directory: SqlDirectory) -> int | None:
    found = directory.household_by_caller(CALLER_LANDLINE)
    return None if found is None else found.household.id


def test_a_lookup_after_its_connection_was_terminated_still_finds_the_household(
    directory: SqlDirectory, engine: Engine, postgres_admin_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    assert caller_household(directory) == CALLER
    database = make_url(engine.url).database
    assert database is not None
    for _ in range(3):
        assert terminate_backends(postgres_admin_url, database) >= 1
        with caplog.at_level(logging.WARNING, logger="callcenter.db.directory_repo"):
            assert caller_household(directory) == CALLER
        assert "directory connection lost" in caplog.text  # the retry path ran, not a lucky new connection
        caplog.clear()


def test_concurrent_lookups_after_every_pooled_connection_died(
    directory: SqlDirectory, engine: Engine, postgres_admin_url: str,
) -> None:
    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(lambda _: caller_household(directory), range(60))) == {CALLER}
        database = make_url(engine.url).database
        assert database is not None
        assert terminate_backends(postgres_admin_url, database) >= 2
        assert list(pool.map(lambda _: caller_household(directory), range(60))) == [CALLER] * 60


def test_an_error_that_is_no_disconnect_is_not_retried(engine: Engine) -> None:
    directory = SqlDirectory(engine)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE emergency_line RENAME TO emergency_line_gone"))
    try:
        with pytest.raises(Exception, match="emergency_line"):
            directory.household_by_caller(CALLER_LANDLINE)
    finally:
        directory.close()

"""What benchmarks share: scratch databases, timing statistics, the machine they ran on."""

from __future__ import annotations

import os
import platform
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATABASES = ("sqlite", "postgres")


def postgres_admin_url() -> str:
    """The test server's admin URL: from the environment, else from scripts/postgres.sh (last line)."""
    url = os.environ.get("CALLCENTER_TEST_POSTGRES_URL")
    if url:
        return url
    done = subprocess.run(
        [str(ROOT / "scripts" / "postgres.sh")], capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"cannot start PostgreSQL:\n{done.stderr}")
    url = done.stdout.strip().splitlines()[-1]
    os.environ["CALLCENTER_TEST_POSTGRES_URL"] = url
    return url


@contextmanager
def scratch_database(kind: str, keep: bool = False) -> Iterator[str]:
    """An empty database of ``kind`` for one run, removed afterwards unless ``keep``."""
    if kind == "sqlite":
        with _scratch_sqlite(keep) as url:
            yield url
    elif kind == "postgres":
        with _scratch_postgres(keep) as url:
            yield url
    else:
        raise ValueError(f"unknown database {kind!r}; choose from {', '.join(DATABASES)}")


@contextmanager
def _scratch_sqlite(keep: bool) -> Iterator[str]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bench-{uuid.uuid4().hex[:8]}.db"
    try:
        yield f"sqlite:///{path}"
    finally:
        if not keep:
            for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                leftover.unlink(missing_ok=True)


@contextmanager
def _scratch_postgres(keep: bool) -> Iterator[str]:
    admin_url = postgres_admin_url()
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass(frozen=True, slots=True)
class Latency:
    """Latency statistics of one series of calls, in milliseconds."""

    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    per_second: float

    @classmethod
    def of(cls, samples_ns: list[int], wall_s: float) -> Latency:
        ordered = sorted(samples_ns)
        return cls(
            count=len(ordered),
            p50_ms=_quantile(ordered, 0.50) / 1e6,
            p99_ms=_quantile(ordered, 0.99) / 1e6,
            max_ms=ordered[-1] / 1e6,
            per_second=len(ordered) / wall_s if wall_s else 0.0,
        )


def _quantile(ordered: list[int], q: float) -> float:
    """Nearest-rank quantile: the smallest sample with at least q of the samples at or below it."""
    rank = max(1, -(-len(ordered) * q // 1))
    return float(ordered[int(rank) - 1])


def machine() -> str:
    """CPU model and core count as /proc/cpuinfo and the OS report them, plus the Python version."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def postgres_version(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar_one())
    finally:
        engine.dispose()

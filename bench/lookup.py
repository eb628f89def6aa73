"""Caller lookup latency: ``SqlDirectory.household_by_caller`` at district and province scale.

    .venv/bin/python -m bench.lookup [--sizes 125000,5000000] [--databases sqlite,postgres]

For each size and database: a fresh database, migrated, then filled with the synthetic roster —
through the roster store for the district (its import time is reported) and the bulk loader
beyond. Then ``--lookups`` caller numbers (existing lines in the national form a carrier sends,
plus a share of unknown numbers) are looked up one after the other, each timed, after a warm-up.
The floor is the same number of primary-key selects on ``emergency_line`` alone, through the same
engine: what any lookup costs before it reads the household. Results go to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from rich.console import Console
from sqlalchemy import Engine, bindparam, func, select
from sqlalchemy.engine import make_url

from bench.bulk import bulk_load, writer_for
from bench.common import DATABASES, RESULTS, Latency, machine, scratch_database
from callcenter.db.directory_repo import SqlDirectory, lookup_engine
from callcenter.db.engine import make_engine, migrate
from callcenter.db.roster_store import RosterStore
from callcenter.db.tables import EmergencyLine, Household
from contacts.demo import DEFAULT_SEED, DISTRICT, DemoScale, generate_roster, iter_roster, scale_for_households
from contacts.phones import normalise_phone

GOAL_P99_MS = 1.0
WARM_UP = 500
STORE_LIMIT = 250_000  # above this the roster store would take minutes: load in bulk instead

_line = EmergencyLine.__table__  # type: ignore[attr-defined]
_household = Household.__table__  # type: ignore[attr-defined]
_PK_SELECT = select(_line.c.household_id).where(_line.c.number == bindparam("number"))
console = Console()


@dataclass(frozen=True, slots=True)
class Result:
    database: str
    households: int
    loader: str
    load_seconds: float
    lookup: Latency
    floor: Latency
    found: int  # lookups that returned a household; must equal ``known``
    known: int  # numbers that are emergency lines in the directory

    @property
    def overhead(self) -> float:
        return self.lookup.p99_ms / self.floor.p99_ms if self.floor.p99_ms else 0.0


@dataclass(frozen=True, slots=True)
class Plan:
    sizes: tuple[int, ...]
    databases: tuple[str, ...]
    lookups: int
    unknown_share: float
    seed: int
    keep: bool
    existing: str | None = None


def scale_of(households: int) -> DemoScale:
    return DISTRICT if households == DISTRICT.households else scale_for_households(households)


def caller_id(canonical: str) -> str:
    """A stored line as a carrier presents it: 13812345678, 07176123456, or the bare extension."""
    if not canonical.startswith("+86"):
        return canonical
    national = canonical[3:]
    return national if national.startswith("1") else "0" + national


def callers(sample: Sequence[str], count: int, unknown_share: float, seed: int) -> list[tuple[str, bool]]:
    """``count`` (caller id, is known) pairs: lines drawn from ``sample`` plus unknown mobiles (166…)."""
    rng = random.Random(seed)
    unknown = round(count * unknown_share)
    known = [(caller_id(rng.choice(sample)), True) for _ in range(count - unknown)]
    strangers = [(f"166{rng.randrange(10**8):08d}", False) for _ in range(unknown)]
    mixed = known + strangers
    rng.shuffle(mixed)
    return mixed


def timed(call: Callable[[str], object], numbers: Sequence[str]) -> tuple[Latency, int]:
    """Latency of ``call`` over ``numbers`` after a warm-up, and how many calls found something."""
    for number in numbers[:WARM_UP]:
        call(number)
    samples: list[int] = []
    found = 0
    clock = time.perf_counter_ns
    started = time.perf_counter()
    for number in numbers:
        before = clock()
        answer = call(number)
        samples.append(clock() - before)
        found += answer is not None
    return Latency.of(samples, time.perf_counter() - started), found


@contextmanager
def pk_select(engine: Engine) -> Iterator[Callable[[str], object]]:
    reader = lookup_engine(engine)  # the same connection handling as the lookups

    def select_line(number: str) -> object:
        with reader.connect() as conn:
            return conn.execute(_PK_SELECT, {"number": number}).first()

    try:
        yield select_line
    finally:
        if reader is not engine:
            reader.dispose()


def measure(engine: Engine, plan: Plan, sample: Sequence[str]) -> tuple[Latency, Latency, int, int]:
    """(lookup latency, floor latency, lookups that found a household, numbers that exist)."""
    pairs = callers(sample, plan.lookups, plan.unknown_share, plan.seed)
    numbers = [number for number, _known in pairs]
    directory = SqlDirectory(engine)
    try:
        lookup, found = timed(directory.household_by_caller, numbers)
    finally:
        directory.close()
    with pk_select(engine) as select_line:
        floor, _ = timed(select_line, [normalise_phone(n) for n in numbers])
    return lookup, floor, found, sum(known for _number, known in pairs)


@contextmanager
def databases(plan: Plan) -> Iterator[dict[str, Engine]]:
    """A migrated scratch database per kind, disposed of (and dropped) afterwards."""
    with ExitStack() as stack:
        engines: dict[str, Engine] = {}
        for kind in plan.databases:
            url = stack.enter_context(scratch_database(kind, plan.keep))
            migrate(url)
            engines[kind] = make_engine(url)
            stack.callback(engines[kind].dispose)
        yield engines


def load_with_store(engines: dict[str, Engine], households: int, seed: int) -> tuple[dict[str, float], list[str]]:
    roster = generate_roster(scale_of(households), seed)
    seconds = {}
    for kind, engine in engines.items():
        started = time.perf_counter()
        RosterStore(engine).apply(roster)
        seconds[kind] = time.perf_counter() - started
    return seconds, [n for h in roster.households for n in h.lines]


def load_in_bulk(engines: dict[str, Engine], households: int, plan: Plan) -> tuple[dict[str, float], list[str]]:
    writers = {kind: writer_for(engine) for kind, engine in engines.items()}
    loaded = bulk_load(iter_roster(scale_of(households), plan.seed), list(writers.values()), 100_000, plan.seed)
    console.print(
        f"  {loaded.households:,} households generated and written to {', '.join(engines)} in "
        f"{loaded.wall_seconds:.0f} s (generating: {loaded.generate_seconds:.0f} s, alongside the writers)"
    )
    return {kind: writer.seconds for kind, writer in writers.items()}, loaded.sample


def run_size(households: int, plan: Plan) -> list[Result]:
    use_store = households <= STORE_LIMIT
    loader = "roster store" if use_store else "bulk, concurrent"
    console.print(f"[bold]{households:,} households[/bold]: loading with the {loader} …")
    results = []
    with databases(plan) as engines:
        if use_store:
            load_seconds, sample = load_with_store(engines, households, plan.seed)
        else:
            load_seconds, sample = load_in_bulk(engines, households, plan)
        for kind, engine in engines.items():
            console.print(f"  {kind}: loaded in {load_seconds[kind]:.1f} s; {plan.lookups:,} lookups …")
            lookup, floor, found, known = measure(engine, plan, sample)
            results.append(Result(kind, households, loader, load_seconds[kind], lookup, floor, found, known))
    return results


def run_existing(url: str, plan: Plan) -> list[Result]:
    """Lookups on a directory already loaded (e.g. one kept with ``--keep``); lines drawn from it."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            households = conn.execute(select(func.count()).select_from(_household)).scalar_one()
            sample = list(conn.execute(select(_line.c.number).order_by(func.random()).limit(20_000)).scalars())
            # The server's page cache decides the tail at millions of households (docs/benchmarks.md).
            cache = conn.exec_driver_sql("SHOW shared_buffers").scalar() if engine.dialect.name != "sqlite" else "-"
        console.print(f"{households:,} households already in {engine.dialect.name} (shared_buffers {cache}); "
                      f"{plan.lookups:,} lookups …")
        lookup, floor, found, known = measure(engine, plan, sample)
    finally:
        engine.dispose()
    kind = "sqlite" if engine.dialect.name == "sqlite" else "postgres"
    return [Result(kind, households, "existing", 0.0, lookup, floor, found, known)]


COLUMNS = ("database", "households", "load", "p50 ms", "p99 ms", "max ms", "lookups/s", "found",
           "floor p50 ms", "floor p99 ms", "p99 / floor p99", f"goal p99 ≤ {GOAL_P99_MS:g} ms")


def report(results: list[Result]) -> str:
    """A Markdown table, ready for docs/benchmarks.md."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---:|" * len(COLUMNS)]
    for r in results:
        cells = (
            r.database, f"{r.households:,}", f"{r.load_seconds:.1f} s ({r.loader})",
            f"{r.lookup.p50_ms:.3f}", f"{r.lookup.p99_ms:.3f}", f"{r.lookup.max_ms:.1f}",
            f"{r.lookup.per_second:,.0f}", f"{r.found:,}/{r.known:,}", f"{r.floor.p50_ms:.3f}",
            f"{r.floor.p99_ms:.3f}", f"{r.overhead:.1f}×", "met" if r.lookup.p99_ms <= GOAL_P99_MS else "missed",
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save(results: list[Result], plan: Plan, seconds: float) -> str:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"lookup-{stamp}.json"
    document = {
        "date": stamp, "machine": machine(), "load_average": os.getloadavg(),
        "plan": asdict(plan) | {"existing": _masked(plan.existing)},
        "seconds": seconds, "results": [asdict(r) | {"overhead": r.overhead} for r in results],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False))
    return str(path)


def _masked(url: str | None) -> str | None:
    return None if url is None else make_url(url).render_as_string(hide_password=True)


def parse(argv: Sequence[str] | None) -> Plan:
    parser = argparse.ArgumentParser(prog="python -m bench.lookup", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="125000,5000000", help="households per directory, comma separated")
    parser.add_argument("--databases", default=",".join(DATABASES), help="sqlite and/or postgres")
    parser.add_argument("--lookups", type=int, default=10_000)
    parser.add_argument("--unknown-share", type=float, default=0.1, help="share of numbers not in the directory")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--keep", action="store_true", help="keep the databases (SQLite files in bench/results/)")
    parser.add_argument("--existing", metavar="URL", default=None,
                        help="measure on this already loaded database instead (no load; --sizes is ignored)")
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    kinds = tuple(d.strip() for d in args.databases.split(","))
    return Plan(sizes, kinds, args.lookups, args.unknown_share, args.seed, args.keep, args.existing)


def main(argv: Sequence[str] | None = None) -> None:
    plan = parse(argv)
    console.print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    started = time.perf_counter()
    if plan.existing:
        results = run_existing(plan.existing, plan)
    else:
        results = [r for size in plan.sizes for r in run_size(size, plan)]
    seconds = time.perf_counter() - started
    print(f"caller lookup: {plan.lookups:,} lookups each, {plan.unknown_share:.0%} of them unknown numbers")
    print(report(results))
    console.print(f"total {seconds:.0f} s; results in {save(results, plan, seconds)}")


if __name__ == "__main__":
    main()

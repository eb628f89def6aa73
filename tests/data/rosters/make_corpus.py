"""Writes the roster test files that are not plain UTF-8 text: other encodings and .xlsx workbooks.

Run from the repository root after changing a case: ``.venv/bin/python tests/data/rosters/make_corpus.py``.
Hand-written files (good/base.csv, good/english.csv, bad/*.csv in UTF-8) are the sources; the
``.expected`` sidecars are reviewed by hand; this script never writes them.
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent
GOOD, BAD = HERE / "good", HERE / "bad"

HOUSEHOLD_HEADER = ["乡镇", "村", "网格", "联防组", "户编号", "户主", "地址", "一键电话", "联系人", "特殊关爱", "备注"]
RESPONDER_HEADER = ["姓名", "角色", "电话", "负责范围"]
PLACE = ["城关镇", "石桥村", "第一网格"]


def household(group: str, code: str, head: str, lines: object, contacts: str = "", care: str = "") -> list[object]:
    return [*PLACE, group, code, head, f"石桥村{group}", lines, contacts, care, ""]


# Bad CSV files kept in another encoding: (name, encoding, UTF-8 source text).
ENCODED_BAD: dict[str, tuple[str, str]] = {
    "line_of_stored_household_gb18030.csv": (
        "gb18030",
        "乡镇,村,网格,联防组,户编号,户主,地址,一键电话,联系人,特殊关爱,备注\n"
        "城关镇,石桥村,第二网格,三组,SQ-009,马春花,石桥村三组4号,13800003007,,,\n",
    ),
    "key_holder_phone_gb18030.csv": (
        "gb18030",
        "[户]\n"
        "乡镇,村,网格,联防组,户编号,户主,地址,一键电话,联系人,特殊关爱,备注,钥匙持有人\n"
        "城关镇,石桥村,第二网格,三组,SQ-009,马春花,石桥村三组4号,13800003009,,,,邻居老马:0717-61\n"
        "城关镇,石桥村,第二网格,三组,SQ-010,马秋月,石桥村三组5号,13800003010,,,,邻居老马 13800003011\n",
    ),
    "unknown_care_flag_bom.csv": (
        "utf-8-sig",
        "乡镇,村,网格,联防组,户编号,户主,地址,一键电话,联系人,特殊关爱,备注\n"
        "城关镇,石桥村,第一网格,二组,SQ-009,马春花,石桥村二组3号,13800002009,,孤寡老人,\n"
        "城关镇,石桥村,第一网格,二组,SQ-010,马秋月,石桥村二组4号,13800002010,,独居老人、lonely,\n",
    ),
    "bad_phones_bom.csv": (
        "utf-8-sig",
        "乡镇,村,网格,联防组,户编号,户主,地址,一键电话,联系人,特殊关爱,备注\n"
        "城关镇,石桥村,第一网格,二组,SQ-009,马春花,石桥村二组3号,1380000200,,,\n"
        "城关镇,石桥村,第一网格,二组,SQ-010,马秋月,石桥村二组4号,119,,,\n"
        "城关镇,石桥村,第一网格,二组,SQ-011,马冬梅,石桥村二组5号,1380000201a,,,\n",
    ),
    "not_text_at_all.csv": ("latin-1", "\x00\x01\x02PK\x03\x04 binary"),
    # A UTF-8 mark, then a GBK line: saved by one program, edited by another.
    "bom_then_gbk_gb18030.csv": (
        "bom+gb18030",
        "乡镇,村,网格,联防组,户编号,户主,地址,一键电话,联系人,特殊关爱,备注\n"
        "城关镇,石桥村,第二网格,三组,SQ-009,马春花,石桥村三组4号,13800003009,,,\n",
    ),
    # Latin-1 bytes of a Western European export: neither UTF-8 nor GB18030.
    "neither_utf8_nor_gb18030.csv": ("latin-1", "Gemeinde,Dorf\nÿÿ,Zürich\n"),
}


def csv_text(rows: list[list[object]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def write_good() -> None:
    source = (GOOD / "base.csv").read_text(encoding="utf-8")
    (GOOD / "base_bom.csv").write_bytes(codecs.BOM_UTF8 + source.encode("utf-8"))
    (GOOD / "base_gb18030.csv").write_bytes(source.encode("gb18030"))
    sections = _csv_sections(source)
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for name, rows in sections.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append([_as_excel_types(v) for v in row])
    book.create_sheet("说明").append(["示例说明页，导入时忽略"])
    book.save(GOOD / "base.xlsx")


def _csv_sections(text: str) -> dict[str, list[list[str]]]:
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] = []
    for row in csv.reader(io.StringIO(text)):
        if row and row[0].startswith("["):
            current = sections.setdefault(row[0].strip("[]"), [])
        elif any(row):
            current.append(row)
    return sections


def _as_excel_types(value: str) -> object:
    """Digits-only cells become numbers, as when a grid worker types a mobile into a General cell."""
    return int(value) if value.isdigit() and not value.startswith("0") else value


def write_bad_xlsx() -> None:
    _book(
        "phones_and_flags.xlsx",
        {
            "户": [
                HOUSEHOLD_HEADER,
                household("二组", "SQ-009", "马春花", 1380000200, "马秋月:13800002010", "独居"),
                [],
                household("二组", "SQ-010", "马秋月", 13800002010, "马春花 13800002009"),
            ],
            "责任人": [RESPONDER_HEADER, ["胡网格", "网格长", 13800009010, "城关镇/石桥村/第一网格"]],
        },
    )
    _book("no_households_sheet.xlsx", {"Sheet1": [HOUSEHOLD_HEADER], "责任人": [RESPONDER_HEADER]})
    _book(
        "responders_missing_phone_column.xlsx",
        {
            "户": [HOUSEHOLD_HEADER, household("二组", "SQ-009", "马春花", "13800002009")],
            "责任人": [
                ["姓名", "角色", "负责范围", "手机号"],
                ["胡网格", "网格员", "城关镇/石桥村/第一网格", "13800009010"],
            ],
        },
    )
    _book(
        "line_of_stored_household.xlsx",
        {"households": [HOUSEHOLD_HEADER, household("二组", "SQ-009", "马春花", "0717-6123401")]},
    )
    _book(
        "scope_problems.xlsx",
        {
            "户": [HOUSEHOLD_HEADER],
            "责任人": [
                RESPONDER_HEADER,
                ["胡网格", "网格员", 13800009010, "城关镇/石桥村"],
                ["何站长", "村网格站", 13800009011, "城关镇/桃园村"],
                ["钱所长", "派出所", 13800009012, "城关镇/石桥村/第一网格/一组"],
            ],
        },
    )
    (BAD / "damaged.xlsx").write_bytes((GOOD / "base.xlsx").read_bytes()[:700])


def _book(name: str, sheets: dict[str, list[list[object]]]) -> None:
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(BAD / name)


def _encode(text: str, encoding: str) -> bytes:
    if encoding == "bom+gb18030":
        return codecs.BOM_UTF8 + text.encode("gb18030")
    return text.encode(encoding)


def write_encoded_bad() -> None:
    for name, (encoding, text) in ENCODED_BAD.items():
        (BAD / name).write_bytes(_encode(text, encoding))


if __name__ == "__main__":
    write_good()
    write_bad_xlsx()
    write_encoded_bad()

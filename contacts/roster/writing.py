"""A Roster → the bytes of an .xlsx or .csv file in the template's layout; and the template itself.

What is written reads back to the same Roster: phones in their national form without spaces,
lists joined with the separators the reader splits on, labels left empty when they are the default.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterable
from pathlib import PurePath

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.dimensions import ColumnDimension, DimensionHolder

from contacts.model import CARE_FLAG_LABELS, ROLE_LABELS, CareFlag, Contact, Role
from contacts.phones import display_phone
from contacts.roster.columns import (
    HOUSEHOLD_COLUMNS,
    INSTRUCTIONS_SHEET,
    RESPONDER_COLUMNS,
    SECTION_COLUMNS,
    SECTION_TITLES,
    column_letter,
)
from contacts.roster.records import HouseholdRecord, ResponderRecord, Roster, default_label
from contacts.roster.sections import SectionKind
from contacts.spreadsheet import neutralise_formula

Rows = list[list[str]]
# Text cells, so Excel keeps leading zeros and long digit strings as typed.
_TEXT_COLUMNS = {"code", "lines", "contacts", "key_holders", "phone"}


_MOBILE = re.compile(r"^\+861[3-9]\d{9}$")


def plain_phone(canonical: str) -> str:
    """``+8613812345678`` → ``13812345678``; ``+867176123456`` → ``0717-6123456``."""
    if _MOBILE.match(canonical):
        return canonical[3:]  # most numbers; skips a costly parse on district-sized exports
    return display_phone(canonical).replace(" ", "")


def _pairs(contacts: Iterable[Contact]) -> str:
    return "；".join(f"{c.name}:{plain_phone(c.phone)}" for c in contacts)


def household_row(record: HouseholdRecord) -> list[str]:
    label = "" if record.spoken_label == default_label(record.group, record.head) else record.label
    values = {
        "town": record.town, "village": record.village, "grid": record.grid, "group": record.group,
        "code": record.code, "head": record.head, "address": record.address,
        "lines": "；".join(plain_phone(n) for n in record.lines),
        "contacts": _pairs(record.contacts),
        "care_flags": "、".join(CARE_FLAG_LABELS[f] for f in CareFlag if f in record.care_flags),
        "notes": record.notes, "label": label, "residents": "、".join(record.residents),
        "key_holders": _pairs(record.key_holders),
    }
    return [values[c.key] for c in HOUSEHOLD_COLUMNS]


def responder_row(record: ResponderRecord) -> list[str]:
    values = {
        "name": record.name, "role": ROLE_LABELS[record.role],
        "phone": plain_phone(record.phone), "scope": "/".join(record.scope),
    }
    return [values[c.key] for c in RESPONDER_COLUMNS]


def section_rows(roster: Roster) -> dict[SectionKind, Rows]:
    """Header and rows of each section; no cell of them can run as a formula (contacts/spreadsheet.py)."""
    return {
        SectionKind.HOUSEHOLDS: [_titles(SectionKind.HOUSEHOLDS), *_safe(map(household_row, roster.households))],
        SectionKind.RESPONDERS: [_titles(SectionKind.RESPONDERS), *_safe(map(responder_row, roster.responders))],
    }


def _safe(rows: Iterable[list[str]]) -> Rows:
    return [[neutralise_formula(value) for value in row] for row in rows]


def _titles(kind: SectionKind) -> list[str]:
    return [c.title for c in SECTION_COLUMNS[kind]]


# ---------------------------------------------------------------- CSV


def csv_bytes(roster: Roster) -> bytes:
    """One file, both sections; UTF-8 with a BOM so Excel opens it as Unicode."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    for kind, rows in section_rows(roster).items():
        writer.writerow([f"[{SECTION_TITLES[kind]}]"])
        writer.writerows(rows)
        writer.writerow([])
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")


# ---------------------------------------------------------------- xlsx


def xlsx_bytes(roster: Roster) -> bytes:
    # Write-only mode streams rows: a district's 125,000 households in seconds, not a minute.
    book = Workbook(write_only=True)
    for kind, rows in section_rows(roster).items():
        _fill_sheet(book.create_sheet(SECTION_TITLES[kind]), kind, rows)
    _fill_instructions(book.create_sheet(INSTRUCTIONS_SHEET))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _fill_sheet(sheet: WriteOnlyWorksheet, kind: SectionKind, rows: Rows) -> None:
    columns = SECTION_COLUMNS[kind]
    for index, column in enumerate(columns):
        dimension = _dimensions(sheet)[column_letter(index)]
        dimension.width = _width(column.key)
        if column.key in _TEXT_COLUMNS:
            dimension.number_format = "@"  # rows typed in later stay text too
    sheet.freeze_panes = "A2"
    header, *body = rows
    sheet.append([_bold(sheet, title) for title in header])
    # Values are written as strings, so Excel keeps them as typed; a styled cell each would
    # triple the time of a district export.
    for row in body:
        sheet.append([value or None for value in row])  # None writes no cell at all


def _bold(sheet: WriteOnlyWorksheet, value: str) -> Cell:
    cell = WriteOnlyCell(sheet, value)
    cell.font = Font(bold=True)
    return cell


def _dimensions(sheet: WriteOnlyWorksheet) -> DimensionHolder[str, ColumnDimension]:
    holder: DimensionHolder[str, ColumnDimension] = sheet.column_dimensions  # type: ignore[attr-defined]  # missing from the stubs
    return holder


_WIDTHS = {"lines": 28, "contacts": 36, "key_holders": 28, "address": 24, "notes": 24, "scope": 28}


def _width(key: str) -> int:
    return _WIDTHS.get(key, 12)


def _fill_instructions(sheet: WriteOnlyWorksheet) -> None:
    _dimensions(sheet)["A"].width = 12
    _dimensions(sheet)["E"].width = 80
    sheet.append([_bold(sheet, "995 一键报警名册填写说明")])
    for line in INSTRUCTIONS:
        sheet.append([line])
    sheet.append([])
    sheet.append(["工作表", "列名", "English", "必填", "填写方法"])
    for kind, columns in SECTION_COLUMNS.items():
        for c in columns:
            sheet.append([SECTION_TITLES[kind], c.title, c.english, _need(c.mandatory, c.required), c.hint])


def _need(mandatory: bool, required: bool) -> str:
    return "必填" if mandatory else ("可空" if required else "可省略此列")


INSTRUCTIONS = (
    "1. 每户一行填在“户”表，网格员、中心户、村网格站、乡镇值班员、派出所填在“责任人”表。",
    "   示例行请删除后再导入。",
    "2. 户编号是每户长期不变的编号：再次导入同一户编号会更新该户；文件中没有的户不会被删除。",
    "3. 对文件中出现的户，其一键电话、联系人、家庭成员、钥匙持有人、特殊关爱和备注以文件为准整体替换。",
    "4. 电话：手机写11位，座机写区号，如 0717-6123456；一键电话可写多个，用；隔开。",
    "5. 联系人每户最多2位，写成 姓名:电话，多位用；隔开。每个联防组的联系人合计不超过20位。",
    "6. 负责范围写成 乡镇/村/网格，层级要与角色相符。联防户的联系人不填在“责任人”表。",
    "7. 有错误时整个文件都不导入，系统会列出每个错误所在的行和列；改正后重新导入即可。",
)


# ---------------------------------------------------------------- template


def template_roster() -> Roster:
    """One example row per sheet; the example numbers are well-formed but not real households."""
    household = HouseholdRecord(
        row=2, town="城关镇", village="石桥村", grid="第一网格", group="三组", code="SQ-03-001",
        head="张桂兰", address="石桥村三组12号", lines=("+867176123456",),
        contacts=(Contact("李国强", "+8613800000001"), Contact("王秀英", "+8613800000002")),
        care_flags=frozenset({CareFlag.LIVING_ALONE}), residents=("张桂兰",),
        key_holders=(Contact("李国强", "+8613800000001"),), notes="示例行，导入前请删除",
    )
    worker = ResponderRecord(
        row=2, name="陈网格", role=Role.GRID_WORKER, phone="+8613800000003",
        scope=("城关镇", "石桥村", "第一网格"),
    )
    return Roster(households=[household], responders=[worker])


WRITERS: dict[str, Callable[[Roster], bytes]] = {".xlsx": xlsx_bytes, ".csv": csv_bytes}


def roster_bytes(name: str, roster: Roster) -> bytes:
    """The file called ``name`` (its suffix picks the format); KeyError for other suffixes."""
    return WRITERS[PurePath(name).suffix.lower()](roster)

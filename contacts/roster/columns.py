"""The columns of the two roster sections and how a header row maps onto them.

Headers are matched after folding case, spaces and full-width forms, so ``Key Holders``,
``key_holders`` and ``钥匙持有人`` all name the same column.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from contacts.errors import RosterProblem
from contacts.roster.records import Origin
from contacts.roster.sections import Line, Section, SectionKind

# Sheet names (xlsx) and section markers (CSV) as the template writes them.
SECTION_TITLES: dict[SectionKind, str] = {SectionKind.HOUSEHOLDS: "户", SectionKind.RESPONDERS: "责任人"}
SECTION_NAMES: dict[str, SectionKind] = {
    "户": SectionKind.HOUSEHOLDS,
    "households": SectionKind.HOUSEHOLDS,
    "责任人": SectionKind.RESPONDERS,
    "responders": SectionKind.RESPONDERS,
}
INSTRUCTIONS_SHEET = "说明"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str  # the Chinese header the template writes
    english: str  # the English header, accepted on import and shown in the docs
    aliases: tuple[str, ...] = ()
    required: bool = True  # the header must be there
    mandatory: bool = False  # every row must fill the cell
    hint: str = ""  # one line for the 说明 sheet

    def names(self) -> tuple[str, ...]:
        return (self.title, self.english, *self.aliases)


HOUSEHOLD_COLUMNS: tuple[Column, ...] = (
    Column("town", "乡镇", "town", ("乡镇/街道", "街道", "township"), mandatory=True, hint="乡镇或街道名称"),
    Column("village", "村", "village", ("村/社区", "社区", "村社区"), mandatory=True, hint="村或社区名称"),
    Column("grid", "网格", "grid", (), mandatory=True, hint="网格名称"),
    Column("group", "联防组", "group", ("十户联防组",), mandatory=True, hint="十户联防组名称"),
    Column("code", "户编号", "household_id", ("code", "编号"), mandatory=True,
           hint="每户唯一、长期不变的编号，重复导入靠它识别同一户"),
    Column("head", "户主", "head", (), mandatory=True, hint="户主姓名"),
    Column("address", "地址", "address", ("住址",), mandatory=True, hint="门牌地址，播报和短信使用"),
    Column("lines", "一键电话", "emergency_lines", ("phone", "lines", "emergency_line", "一键号码"),
           mandatory=True, hint="按一键时来电的号码；多个号码用；隔开，手机11位，座机带区号如0717-6123456"),
    Column("contacts", "联系人", "contacts", (),
           hint="本户最多2位联系人，写成 姓名:电话，多位用；隔开，如 张三:13800000001；李四:13800000002"),
    Column("care_flags", "特殊关爱", "care_flags", ("care",),
           hint="可填 独居老人、留守儿童、残疾、精神障碍、慢性病，多项用、隔开"),
    Column("notes", "备注", "notes", (), hint="其他情况，接警员可见"),
    Column("label", "标签", "label", (), required=False,
           hint="播报和打印用的名称，如 三组 张桂兰家；不填则为 联防组 户主家"),
    Column("residents", "家庭成员", "residents", (), required=False, hint="家庭成员姓名，用、隔开"),
    Column("key_holders", "钥匙持有人", "key_holders", (), required=False,
           hint="有本户钥匙的人，写法同联系人"),
)

RESPONDER_COLUMNS: tuple[Column, ...] = (
    Column("name", "姓名", "name", (), mandatory=True, hint="责任人姓名或岗位名称"),
    Column("role", "角色", "role", (), mandatory=True,
           hint="网格员、网格中心户、志愿者、村网格站、乡镇值班员、派出所"),
    Column("phone", "电话", "phone", ("手机",), mandatory=True, hint="手机11位，座机带区号"),
    Column("scope", "负责范围", "scope", ("范围",), mandatory=True,
           hint="乡镇/村/网格（网格员、网格中心户）、乡镇/村（村网格站）、乡镇（乡镇值班员、派出所）"),
)

SECTION_COLUMNS: dict[SectionKind, tuple[Column, ...]] = {
    SectionKind.HOUSEHOLDS: HOUSEHOLD_COLUMNS,
    SectionKind.RESPONDERS: RESPONDER_COLUMNS,
}


def fold(text: str) -> str:
    """Compare headers and names the way a person reads them: width, case and spacing ignored."""
    folded = unicodedata.normalize("NFKC", text).strip().lower()
    return folded.replace(" ", "_").replace("-", "_")


def _lookup(columns: tuple[Column, ...]) -> dict[str, Column]:
    return {fold(name): column for column in columns for name in column.names()}


_LOOKUPS: dict[SectionKind, dict[str, Column]] = {kind: _lookup(c) for kind, c in SECTION_COLUMNS.items()}


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA: the letters Excel shows above a column."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


@dataclass(frozen=True, slots=True)
class Header:
    """Where each known column sits in a section, and the header text the file used for it."""

    positions: dict[str, int]
    titles: dict[str, str]

    def cells(self, line: Line) -> dict[str, str]:
        return {key: line.cell(i) for key, i in self.positions.items()}


def resolve_header(section: Section) -> tuple[Header, list[RosterProblem]]:
    lookup = _LOOKUPS[section.kind]
    positions: dict[str, int] = {}
    titles: dict[str, str] = {}
    problems: list[RosterProblem] = []
    for index, text in enumerate(section.header.cells):
        if not text:
            continue  # Excel keeps trailing empty columns; they carry nothing
        problem = _place_column(lookup.get(fold(text)), index, text, positions, titles)
        if problem:
            problems.append(section.problem(section.header.number, text, problem))
    problems += _missing(section, positions)
    return Header(positions, titles), problems


def _place_column(
    column: Column | None, index: int, text: str, positions: dict[str, int], titles: dict[str, str]
) -> str:
    if column is None:
        return "unknown column; the accepted column names are in the 说明 sheet of the template"
    if column.key in positions:
        first = column_letter(positions[column.key])
        return f"duplicate column: {titles[column.key]} is already column {first}"
    positions[column.key] = index
    titles[column.key] = text
    return ""


def _missing(section: Section, positions: dict[str, int]) -> list[RosterProblem]:
    return [
        section.problem(section.header.number, column.title, "missing column")
        for column in SECTION_COLUMNS[section.kind]
        if column.required and column.key not in positions
    ]


def cell_problem(origin: Origin, kind: SectionKind, row: int, key: str, reason: str) -> RosterProblem:
    """A problem found after reading (e.g. against the database), named as the file names the cell."""
    title = origin.titles.get(key) or next(c.title for c in SECTION_COLUMNS[kind] if c.key == key)
    return RosterProblem(row=row, column=title, reason=reason, sheet=origin.sheet)

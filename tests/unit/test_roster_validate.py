"""From sections of text rows to a Roster, and every problem a file can have."""

from __future__ import annotations

import pytest

from contacts.errors import RosterError
from contacts.model import CareFlag, Contact, Role
from contacts.roster import Origin, Rules, parse_roster
from contacts.roster.sections import Line, RosterFile, Section, SectionKind

HEADER = ("乡镇", "村", "网格", "联防组", "户编号", "户主", "地址", "一键电话", "联系人", "特殊关爱", "备注")
RESPONDER_HEADER = ("姓名", "角色", "电话", "负责范围")


def row(number: int, code: str, line: str, contacts: str = "", group: str = "一组", **extra: str) -> Line:
    cells = {"乡镇": "城关镇", "村": "石桥村", "网格": "第一网格", "联防组": group, "户编号": code,
             "户主": f"户主{code}", "地址": f"{group}{code}号", "一键电话": line, "联系人": contacts,
             "特殊关爱": "", "备注": "", **extra}
    return Line(number, tuple(cells[h] for h in HEADER))


def households(*rows: Line, header: tuple[str, ...] = HEADER, sheet: str | None = None) -> Section:
    return Section(SectionKind.HOUSEHOLDS, Line(1, header), rows, sheet)


def responders(*rows: tuple[str, ...], first: int = 2) -> Section:
    lines = tuple(Line(first + i, r) for i, r in enumerate(rows))
    return Section(SectionKind.RESPONDERS, Line(first - 1, RESPONDER_HEADER), lines)


def problems(*sections: Section, limit: int = 20) -> list[str]:
    with pytest.raises(RosterError) as caught:
        parse_roster(RosterFile(sections), Rules(max_group_responders=limit))
    return [str(p) for p in caught.value.problems]


def test_a_good_row_becomes_a_record() -> None:
    line = row(2, "H1", "0717-6123456；13812345678", "李四:13900000001", 特殊关爱="独居老人", 备注="耳背")
    roster = parse_roster(RosterFile((households(line),)))
    [record] = roster.households
    assert record.row == 2 and record.code == "H1"
    assert record.lines == ("+867176123456", "+8613812345678")
    assert record.contacts == (Contact("李四", "+8613900000001"),)
    assert record.care_flags == {CareFlag.LIVING_ALONE}
    assert record.notes == "耳背"
    assert record.label == "" and record.spoken_label == "一组 户主H1家"
    assert roster.household_origin == Origin(None, dict(zip(
        ["town", "village", "grid", "group", "code", "head", "address", "lines", "contacts", "care_flags", "notes"],
        HEADER, strict=True)))


def test_optional_columns_and_english_headers() -> None:
    header = ("town", "village", "grid", "group", "code", "head", "address", "phone", "contacts", "care_flags",
              "notes", "标签", "家庭成员", "钥匙持有人")
    line = Line(2, ("镇", "村", "格", "组", "H1", "张三", "1号", "13812345678", "", "", "", "张家", "张三、张四",
                    "王五:13900000002"))
    [record] = parse_roster(RosterFile((households(line, header=header),))).households
    assert (record.label, record.residents) == ("张家", ("张三", "张四"))
    assert record.key_holders == (Contact("王五", "+8613900000002"),)


def test_every_problem_of_every_row_is_reported_in_file_order() -> None:
    assert problems(households(
        row(2, "H1", "1381234567", 特殊关爱="孤寡"),
        row(3, "", "13812345678", 户主=""),
        row(4, "H1", "13812345678", "甲:13900000001；乙:13900000002；丙:13900000003"),
    )) == [
        "row 2, column 一键电话: invalid phone number '1381234567': a mobile number has 11 digits",
        "row 2, column 特殊关爱: unknown care flag '孤寡'; use 独居老人、留守儿童、残疾、精神障碍、慢性病",
        "row 3, column 户编号: empty; this column must be filled on every row",
        "row 3, column 户主: empty; this column must be filled on every row",
        "row 4, column 联系人: 3 contacts; a household has at most 2",
        "row 4, column 户编号: household H1 is already on row 2",
        "row 4, column 一键电话: 138 1234 5678 is already the emergency line of the household on row 3",
    ]


def test_duplicate_lines_across_households() -> None:
    assert problems(households(row(2, "H1", "13812345678"), row(3, "H2", "8001；138 1234 5678"))) == [
        "row 3, column 一键电话: 138 1234 5678 is already the emergency line of household H1 (row 2)",
    ]


def test_group_with_too_many_contacts_is_reported_once_where_it_overflows() -> None:
    rows = [row(i + 2, f"H{i}", f"1381234560{i}", f"甲:1390000000{i}；乙:1370000000{i}") for i in range(3)]
    assert problems(households(*rows), limit=5) == [
        "row 4, column 联系人: joint-defense group 城关镇/石桥村/第一网格/一组 has 6 household contacts "
        "in this file; at most 5 responders per group",
    ]


def test_header_problems_stop_the_rows_of_that_section() -> None:
    header = ("乡镇", "村", "网格", "组别", "户编号", "户主", "户主", "一键电话", "联系人", "特殊关爱", "备注")
    assert problems(households(Line(2, ("",) * 11), header=header, sheet="户")) == [
        "sheet 户, row 1, column 组别: unknown column; the accepted column names are in the 说明 sheet of the template",
        "sheet 户, row 1, column 户主: duplicate column: 户主 is already column F",
        "sheet 户, row 1, column 联防组: missing column",
        "sheet 户, row 1, column 地址: missing column",
    ]


def test_responders() -> None:
    roster = parse_roster(RosterFile((
        households(),
        responders(
            ("陈网格", "网格员", "13800009001", "城关镇/石桥村/第一网格"),
            ("派出所", "民警", "0717-6121100", "城关镇"),
        ),
    )))
    assert [(r.row, r.role, r.scope) for r in roster.responders] == [
        (2, Role.GRID_WORKER, ("城关镇", "石桥村", "第一网格")),
        (3, Role.POLICE_STATION, ("城关镇",)),
    ]


def test_responder_problems() -> None:
    assert problems(households(), responders(
        ("陈网格", "网格员", "13800009001", "城关镇/石桥村"),
        ("陈网格", "网格长", "1380000900", "城关镇/石桥村/第一网格"),
        ("李", "志愿者", "13800009002", "城关镇/石桥村"),
        ("李", "志愿者", "13800009003", "城关镇/石桥村"),
        ("", "联防户", "13800009004", "城关镇/石桥村/第一网格/一组"),
    )) == [
        "row 2, column 负责范围: '城关镇/石桥村' is a village; a 网格员 covers 乡镇/村/网格",
        "row 3, column 角色: unknown role '网格长'; use 网格员、网格中心户、志愿者、村网格站、乡镇值班员、派出所",
        "row 3, column 电话: invalid phone number '1380000900': a mobile number has 11 digits",
        "row 5, column 姓名: 李 is already listed as 志愿者 of 城关镇/石桥村 on row 4",
        "row 6, column 姓名: empty; this column must be filled on every row",
        "row 6, column 负责范围: 联防户 come from the 联系人 column of the households sheet, not from this one",
    ]


def test_progress_counts_every_row() -> None:
    rows = [row(i + 2, f"H{i}", f"138{i:08d}") for i in range(2500)]
    seen: list[int] = []
    parse_roster(RosterFile((households(*rows),)), progress=seen.append)
    assert sum(seen) == 2500

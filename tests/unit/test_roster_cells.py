"""Reading single roster cells: phones, lists, pairs, care flags, roles and scope paths."""

from __future__ import annotations

import pytest

from contacts.model import CareFlag, Contact, Role
from contacts.phones import PhonePolicy
from contacts.roster import cells
from contacts.roster.columns import column_letter, fold

POLICY = PhonePolicy()


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("0717-6123456", ("+867176123456",)),
        ("138 1234 5678", ("+8613812345678",)),  # spaces inside one number
        ("0717 6123456", ("+867176123456",)),
        ("13812345678 13912345678", ("+8613812345678", "+8613912345678")),  # spaces between numbers
        ("13812345678；13912345678;8001", ("+8613812345678", "+8613912345678", "8001")),
        ("13812345678,13912345678、0717-6123456", ("+8613812345678", "+8613912345678", "+867176123456")),
        ("13812345678；138-1234-5678", ("+8613812345678",)),  # the same line twice is kept once
        ("", ()),
    ],
)
def test_emergency_lines(text: str, lines: tuple[str, ...]) -> None:
    assert cells.emergency_lines(text, POLICY) == lines


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1381234567", "invalid phone number '1381234567': a mobile number has 11 digits"),
        ("138 1234 567", "invalid phone number '138 1234 567': a mobile number has 11 digits"),
        ("110", "invalid phone number '110': a public emergency short code, not a subscriber line"),
        ("1381234567x", "invalid phone number '1381234567x': contains characters that are not digits"),
    ],
)
def test_bad_emergency_lines_name_the_reason(text: str, reason: str) -> None:
    with pytest.raises(cells.CellError) as caught:
        cells.emergency_lines(text, POLICY)
    assert str(caught.value) == reason


def test_extensions_follow_the_policy() -> None:
    assert cells.phone("8001", POLICY) == "8001"
    with pytest.raises(cells.CellError):
        cells.phone("8001", PhonePolicy(allow_extensions=False))


@pytest.mark.parametrize(
    ("text", "contacts"),
    [
        ("张三:13800000001", (Contact("张三", "+8613800000001"),)),
        ("张三：13800000001；李四:0717-6123456",
         (Contact("张三", "+8613800000001"), Contact("李四", "+867176123456"))),
        (" 张三 : 138 0000 0001 ; 李四:8001 ", (Contact("张三", "+8613800000001"), Contact("李四", "8001"))),
        ("", ()),
    ],
)
def test_contact_pairs(text: str, contacts: tuple[Contact, ...]) -> None:
    assert cells.contact_pairs(text, POLICY, limit=2) == contacts


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("张三13800000001", "'张三13800000001' is not a 姓名:电话 pair (write it like 张三:13800000001)"),
        (":13800000001", "':13800000001' is not a 姓名:电话 pair (write it like 张三:13800000001)"),
        ("张三:", "'张三:' is not a 姓名:电话 pair (write it like 张三:13800000001)"),
        ("张三:1380000", "invalid phone number '1380000' of 张三: a mobile number has 11 digits"),
        ("甲:13800000001；乙:13800000002；丙:13800000003", "3 contacts; a household has at most 2"),
    ],
)
def test_bad_contact_pairs(text: str, reason: str) -> None:
    with pytest.raises(cells.CellError) as caught:
        cells.contact_pairs(text, POLICY, limit=2)
    assert str(caught.value) == reason


def test_key_holders_have_no_limit() -> None:
    text = "；".join(f"人{i}:1380000000{i}" for i in range(4))
    assert len(cells.contact_pairs(text, POLICY)) == 4


@pytest.mark.parametrize(
    ("text", "flags"),
    [
        ("独居老人", {CareFlag.LIVING_ALONE}),
        ("独居老人、慢性病", {CareFlag.LIVING_ALONE, CareFlag.CHRONIC_ILLNESS}),
        ("残疾;精神障碍,留守儿童", {CareFlag.DISABLED, CareFlag.MENTAL_ILLNESS, CareFlag.LEFT_BEHIND_CHILD}),
        ("living_alone, Disabled", {CareFlag.LIVING_ALONE, CareFlag.DISABLED}),
        ("", set()),
    ],
)
def test_care_flags(text: str, flags: set[CareFlag]) -> None:
    assert cells.care_flags(text) == flags


def test_unknown_care_flag_lists_the_labels() -> None:
    expected = "unknown care flag '孤寡'; use 独居老人、留守儿童、残疾、精神障碍、慢性病"
    with pytest.raises(cells.CellError, match=expected):
        cells.care_flags("独居老人、孤寡")


@pytest.mark.parametrize(
    ("text", "role"),
    [
        ("网格员", Role.GRID_WORKER),
        ("中心户", Role.GRID_CENTRE_HOUSEHOLD),
        ("网格中心户", Role.GRID_CENTRE_HOUSEHOLD),
        ("村级站", Role.VILLAGE_STATION),
        ("网格站", Role.VILLAGE_STATION),
        ("乡镇值班", Role.TOWNSHIP_DUTY_OFFICER),
        ("民警", Role.POLICE_STATION),
        ("Grid_Worker", Role.GRID_WORKER),
        ("police_station", Role.POLICE_STATION),
    ],
)
def test_roles_and_synonyms(text: str, role: Role) -> None:
    assert cells.role(text) == role


def test_unknown_role() -> None:
    expected = "unknown role '村长'; use 网格员、网格中心户、志愿者、村网格站、乡镇值班员、派出所"
    with pytest.raises(cells.CellError, match=expected):
        cells.role("村长")


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("城关镇/石桥村/第一网格", ("城关镇", "石桥村", "第一网格")),
        ("城关镇／石桥村", ("城关镇", "石桥村")),
        ("城关镇 > 石桥村 > 第一网格", ("城关镇", "石桥村", "第一网格")),
        ("城关镇", ("城关镇",)),
    ],
)
def test_scope_paths(text: str, path: tuple[str, ...]) -> None:
    assert cells.scope_path(text) == path


@pytest.mark.parametrize("text", ["城关镇//第一网格", "/石桥村", "a/b/c/d/e"])
def test_malformed_scope_paths(text: str) -> None:
    with pytest.raises(cells.CellError, match="is not a path like 乡镇/村/网格"):
        cells.scope_path(text)


@pytest.mark.parametrize(
    ("path", "role", "reason"),
    [
        (("镇", "村", "格"), Role.GRID_WORKER, ""),
        (("镇", "村"), Role.VOLUNTEER, ""),
        (("镇", "村", "格"), Role.VOLUNTEER, ""),
        (("镇",), Role.POLICE_STATION, ""),
        (("镇", "村"), Role.GRID_WORKER, "'镇/村' is a village; a 网格员 covers 乡镇/村/网格"),
        (("镇",), Role.VOLUNTEER, "'镇' is a town; a 志愿者 covers 乡镇/村/网格 or 乡镇/村"),
        (("镇", "村", "格"), Role.HOUSEHOLD_CONTACT,
         "联防户 come from the 联系人 column of the households sheet, not from this one"),
    ],
)
def test_scope_must_fit_the_role(path: tuple[str, ...], role: Role, reason: str) -> None:
    assert cells.check_scope(path, role) == reason


def test_text_length_limit() -> None:
    assert cells.text_of(3)("abc") == "abc"
    with pytest.raises(cells.CellError, match="too long: 4 characters, at most 3"):
        cells.text_of(3)("abcd")


def test_headers_fold_width_case_and_spacing() -> None:
    assert fold(" Key Holders ") == "key_holders"
    assert fold("ＴＯＷＮ") == "town"
    assert [column_letter(i) for i in (0, 25, 26, 27, 701, 702)] == ["A", "Z", "AA", "AB", "ZZ", "AAA"]

"""The directory's contract: caller lookup on the in-memory fake, SQLite and PostgreSQL over a small
hand-built directory (``MemoryDirectory`` holds the same households and responders as the rows).

Two towns; in the caller's town two villages; in the caller's village two grids; in the caller's
grid two joint-defense groups. Every responder outside the caller's chain is a decoy that the
lookup must leave out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import SQLModel

from callcenter.adapters.memory import MemoryDirectory
from callcenter.db.directory_repo import SqlDirectory
from callcenter.db.engine import make_engine, migrate
from callcenter.db.tables import scope_key
from contacts.model import CallerLookup, CareFlag, Contact, HouseholdProfile, Place, Responder, Role, ScopeLevel
from contacts.phones import PhonePolicy

Directory = SqlDirectory | MemoryDirectory

TOWN, OTHER_TOWN = 1, 2
VILLAGE, OTHER_VILLAGE = 10, 11
GRID, OTHER_GRID = 100, 101
GROUP, OTHER_GROUP, FAR_GROUP = 1000, 1001, 1002
CALLER, NEIGHBOUR_A, NEIGHBOUR_B, OTHER_GROUP_HOUSEHOLD, FAR_HOUSEHOLD = 1, 2, 3, 4, 5

CALLER_LANDLINE = "+867176123456"
CALLER_MOBILE = "+8613812345678"
NEIGHBOUR_A_EXTENSION = "8002"


def _responder(rid: int, name: str, role: Role, level: ScopeLevel, scope_id: int,
               household_id: int | None = None, position: int = 0) -> dict[str, Any]:
    return {
        "id": rid, "name": name, "phone": f"+86139000000{rid:02d}", "role": role.value,
        "scope_level": level.value, "scope_id": scope_id, "scope_key": scope_key(level, scope_id),
        "household_id": household_id, "position": position,
    }


def contact_row(rid: int, name: str, group: int, household_id: int, position: int = 0) -> dict[str, Any]:
    return _responder(rid, name, Role.HOUSEHOLD_CONTACT, ScopeLevel.GROUP, group, household_id, position)


def post_row(rid: int, name: str, role: Role, level: ScopeLevel, scope_id: int) -> dict[str, Any]:
    return _responder(rid, name, role, level, scope_id)


def _household(hid: int, group: int, head: str, **extra: Any) -> dict[str, Any]:
    row = {
        "id": hid, "code": f"H-{hid:03d}", "group_id": group, "head": head, "label": f"{head}家",
        "address": f"石门村{hid}号", "care_flags": [], "residents": [head], "key_holders": [], "notes": "",
    }
    row.update(extra)
    return row


ROWS: dict[str, list[dict[str, Any]]] = {
    "town": [{"id": TOWN, "name": "小溪塔街道"}, {"id": OTHER_TOWN, "name": "樟村坪镇"}],
    "village": [
        {"id": VILLAGE, "town_id": TOWN, "name": "石门村"},
        {"id": OTHER_VILLAGE, "town_id": TOWN, "name": "龙泉村"},
    ],
    "grid": [
        {"id": GRID, "village_id": VILLAGE, "name": "第一网格"},
        {"id": OTHER_GRID, "village_id": VILLAGE, "name": "第二网格"},
    ],
    "joint_defense_group": [
        {"id": GROUP, "grid_id": GRID, "name": "一组"},
        {"id": OTHER_GROUP, "grid_id": GRID, "name": "二组"},
        {"id": FAR_GROUP, "grid_id": OTHER_GRID, "name": "三组"},
    ],
    "household": [
        _household(
            CALLER, GROUP, "张大山",
            care_flags=[CareFlag.MENTAL_ILLNESS.value, CareFlag.LIVING_ALONE.value],
            residents=["张大山", "李桂兰"],
            key_holders=[{"name": "张小明", "phone": "+8613900000002"}],
            notes="院门钥匙在邻居家",
        ),
        _household(NEIGHBOUR_A, GROUP, "王二"),
        _household(NEIGHBOUR_B, GROUP, "赵三"),
        _household(OTHER_GROUP_HOUSEHOLD, OTHER_GROUP, "钱四"),
        _household(FAR_HOUSEHOLD, FAR_GROUP, "孙五"),
    ],
    "emergency_line": [
        {"number": CALLER_LANDLINE, "household_id": CALLER},
        {"number": CALLER_MOBILE, "household_id": CALLER},
        {"number": NEIGHBOUR_A_EXTENSION, "household_id": NEIGHBOUR_A},
        {"number": "+867176100003", "household_id": NEIGHBOUR_B},
        {"number": "+867176100004", "household_id": OTHER_GROUP_HOUSEHOLD},
        {"number": "+867176100005", "household_id": FAR_HOUSEHOLD},
    ],
    "responder": [
        # The caller's own contacts, rows in the opposite order of their positions.
        contact_row(2, "张小明", GROUP, CALLER, position=1),
        contact_row(1, "张小红", GROUP, CALLER, position=0),
        # Neighbours: the other households of the caller's joint-defense group.
        contact_row(3, "王二", GROUP, NEIGHBOUR_A),
        contact_row(5, "赵三", GROUP, NEIGHBOUR_B, position=0),
        contact_row(4, "赵小三", GROUP, NEIGHBOUR_B, position=1),
        # Decoys: contacts of another group of the same grid, and of a group of another grid.
        contact_row(6, "钱四", OTHER_GROUP, OTHER_GROUP_HOUSEHOLD),
        contact_row(7, "孙五", FAR_GROUP, FAR_HOUSEHOLD),
        # Upper levels of the caller, inserted out of escalation order.
        post_row(20, "派出所值班室", Role.POLICE_STATION, ScopeLevel.TOWN, TOWN),
        post_row(21, "街道值班员", Role.TOWNSHIP_DUTY_OFFICER, ScopeLevel.TOWN, TOWN),
        post_row(22, "石门村网格站", Role.VILLAGE_STATION, ScopeLevel.VILLAGE, VILLAGE),
        post_row(23, "志愿者甲", Role.VOLUNTEER, ScopeLevel.GRID, GRID),
        post_row(24, "志愿者乙", Role.VOLUNTEER, ScopeLevel.VILLAGE, VILLAGE),
        post_row(25, "网格中心户", Role.GRID_CENTRE_HOUSEHOLD, ScopeLevel.GRID, GRID),
        post_row(26, "网格员刘", Role.GRID_WORKER, ScopeLevel.GRID, GRID),
        # Decoys: the other grid's worker, the other village's station, the other town's police.
        post_row(30, "网格员陈", Role.GRID_WORKER, ScopeLevel.GRID, OTHER_GRID),
        post_row(31, "龙泉村网格站", Role.VILLAGE_STATION, ScopeLevel.VILLAGE, OTHER_VILLAGE),
        post_row(32, "樟村坪派出所", Role.POLICE_STATION, ScopeLevel.TOWN, OTHER_TOWN),
    ],
}
CALLER_CHAIN = {1, 2, 3, 4, 5, 20, 21, 22, 23, 24, 25, 26}


def insert_directory(engine: Engine) -> None:
    """Insert ROWS with SQLAlchemy Core, parents first."""
    with engine.begin() as conn:
        for table, rows in ROWS.items():
            conn.execute(SQLModel.metadata.tables[table].insert(), rows)


def memory_directory(policy: PhonePolicy) -> MemoryDirectory:
    """ROWS as the in-memory directory holds them: households with their places, and the responders."""
    towns = {r["id"]: r for r in ROWS["town"]}
    villages = {r["id"]: r for r in ROWS["village"]}
    grids = {r["id"]: r for r in ROWS["grid"]}
    groups = {r["id"]: r for r in ROWS["joint_defense_group"]}
    lines: defaultdict[int, list[str]] = defaultdict(list)
    for line in ROWS["emergency_line"]:
        lines[line["household_id"]].append(line["number"])

    def place(group_id: int) -> Place:
        group = groups[group_id]
        grid = grids[group["grid_id"]]
        village = villages[grid["village_id"]]
        town = towns[village["town_id"]]
        return Place(town["id"], town["name"], village["id"], village["name"], grid["id"], grid["name"],
                     group["id"], group["name"])
    households = [(place(h["group_id"]), HouseholdProfile(
        h["id"], h["code"], h["label"], h["head"], h["address"], tuple(lines[h["id"]]),
        frozenset(CareFlag(f) for f in h["care_flags"]), tuple(h["residents"]),
        tuple(Contact(k["name"], k["phone"]) for k in h["key_holders"]), h["notes"])) for h in ROWS["household"]]
    responders = [Responder(r["id"], r["name"], r["phone"], Role(r["role"]), ScopeLevel(r["scope_level"]),
                            r["scope_id"], r["household_id"], r["position"]) for r in ROWS["responder"]]
    return MemoryDirectory(households, responders, policy)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def open_directory(request: pytest.FixtureRequest) -> Iterator[Callable[[PhonePolicy], Directory]]:
    """Opens the directory of ROWS with a phone policy: in memory, or on a migrated database."""
    if request.param == "memory":
        yield memory_directory
        return
    url = request.getfixturevalue(f"{request.param}_url")
    migrate(url)
    engine = make_engine(url)
    insert_directory(engine)
    opened: list[SqlDirectory] = []

    def open_sql(policy: PhonePolicy) -> SqlDirectory:
        opened.append(SqlDirectory(engine, policy))
        return opened[-1]
    yield open_sql
    for directory in opened:
        directory.close()
    engine.dispose()


@pytest.fixture
def directory(open_directory: Callable[[PhonePolicy], Directory]) -> Directory:
    return open_directory(PhonePolicy())


def found(directory: Directory, number: str) -> CallerLookup:
    result = directory.household_by_caller(number)
    assert result is not None, f"{number} not found"
    return result


# Each database costs a fresh schema, so the written forms are checked in one test per database.
WRITTEN_FORMS_OF_THE_CALLERS_LINES = (
    "0717-6123456",
    "07176123456",
    "+86 717 6123456",
    "(0717)6123456",
    "008607176123456",
    "+867176123456",
    "sip:07176123456@pbx",
    "13812345678",
    "+86 138-1234-5678",
)
UNKNOWN_OR_GARBAGE = (
    "0717-6999999", "13999999999", "8999", "", "anonymous", "unknown", "110", "+1 212 555 0100",
    "'; DROP TABLE x; --",
)


def test_any_written_form_of_a_line_finds_the_household(directory: Directory) -> None:
    for number in WRITTEN_FORMS_OF_THE_CALLERS_LINES:
        assert found(directory, number).household.id == CALLER, number


def test_the_profile_is_complete(directory: Directory) -> None:
    h = found(directory, "0717-6123456").household
    assert (h.code, h.head, h.label, h.address) == ("H-001", "张大山", "张大山家", "石门村1号")
    assert set(h.emergency_lines) == {CALLER_LANDLINE, CALLER_MOBILE}
    assert h.care_flags == frozenset({CareFlag.LIVING_ALONE, CareFlag.MENTAL_ILLNESS})
    assert h.care_labels == ("独居老人", "精神障碍")
    assert h.residents == ("张大山", "李桂兰")
    assert h.key_holders == (Contact("张小明", "+8613900000002"),)
    assert h.notes == "院门钥匙在邻居家"


def test_the_place_names_every_level(directory: Directory) -> None:
    place = found(directory, CALLER_LANDLINE).place
    assert (place.town_id, place.village_id, place.grid_id, place.group_id) == (TOWN, VILLAGE, GRID, GROUP)
    assert place.path == "小溪塔街道/石门村/第一网格/一组"


def test_own_contacts_come_in_their_position_order(directory: Directory) -> None:
    own = found(directory, CALLER_LANDLINE).own_contacts
    assert [r.id for r in own] == [1, 2]
    assert all(r.household_id == CALLER and r.role is Role.HOUSEHOLD_CONTACT for r in own)


def test_neighbours_are_the_other_households_of_the_group(directory: Directory) -> None:
    neighbours = found(directory, CALLER_LANDLINE).neighbours
    expected = [(NEIGHBOUR_A, 3), (NEIGHBOUR_B, 5), (NEIGHBOUR_B, 4)]
    assert [(r.household_id, r.id) for r in neighbours] == expected
    assert neighbours[0].phone == "+8613900000003"


def test_upper_levels_climb_in_escalation_order(directory: Directory) -> None:
    upper = found(directory, CALLER_LANDLINE).upper_levels
    assert [r.role for r in upper] == [
        Role.GRID_WORKER,
        Role.GRID_CENTRE_HOUSEHOLD,
        Role.VOLUNTEER,
        Role.VOLUNTEER,
        Role.VILLAGE_STATION,
        Role.TOWNSHIP_DUTY_OFFICER,
        Role.POLICE_STATION,
    ]
    names = ["网格员刘", "网格中心户", "志愿者甲", "志愿者乙", "石门村网格站", "街道值班员", "派出所值班室"]
    assert [r.name for r in upper] == names
    assert [(r.scope, r.scope_id) for r in upper][-1] == (ScopeLevel.TOWN, TOWN)


def test_other_groups_grids_villages_and_towns_are_left_out(directory: Directory) -> None:
    result = found(directory, CALLER_LANDLINE)
    everyone = result.own_contacts + result.escalation_order()
    assert {r.id for r in everyone} == CALLER_CHAIN
    assert len(everyone) == len(CALLER_CHAIN)  # nobody twice


def test_a_neighbour_sees_the_caller_as_its_neighbour(directory: Directory) -> None:
    result = found(directory, "0717-6100003")
    assert result.household.id == NEIGHBOUR_B
    assert [r.id for r in result.own_contacts] == [5, 4]
    assert [r.household_id for r in result.neighbours] == [CALLER, CALLER, NEIGHBOUR_A]
    assert result.grid_workers[0].name == "网格员刘"


def test_a_household_in_another_grid_gets_that_grids_worker(directory: Directory) -> None:
    result = found(directory, "07176100005")
    assert result.household.id == FAR_HOUSEHOLD
    assert result.neighbours == ()
    assert [r.id for r in result.upper_levels] == [30, 24, 22, 21, 20]


def test_an_extension_line_is_found_when_extensions_are_allowed(
        open_directory: Callable[[PhonePolicy], Directory]) -> None:
    assert found(open_directory(PhonePolicy()), NEIGHBOUR_A_EXTENSION).household.id == NEIGHBOUR_A
    no_extensions = open_directory(PhonePolicy(allow_extensions=False))
    assert no_extensions.household_by_caller(NEIGHBOUR_A_EXTENSION) is None
    assert no_extensions.household_by_caller("0717-6123456") is not None


def test_unknown_numbers_and_garbage_return_none(directory: Directory) -> None:
    for number in UNKNOWN_OR_GARBAGE:
        assert directory.household_by_caller(number) is None, number


def test_household_by_id_and_code_give_the_same_answer(directory: Directory) -> None:
    by_line = found(directory, CALLER_LANDLINE)
    assert directory.household_by_id(CALLER) == by_line
    assert directory.household_by_code("H-001") == by_line
    assert directory.household_by_id(999) is None
    assert directory.household_by_code("H-999") is None


def test_known_numbers_are_lines_and_responders_anywhere(directory: Directory) -> None:
    """The toll-fraud guard's question: any line or responder of the directory, in any written form."""
    for number in WRITTEN_FORMS_OF_THE_CALLERS_LINES:
        assert directory.is_known_number(number), number
    assert all(directory.is_known_number(line["number"]) for line in ROWS["emergency_line"])
    assert all(directory.is_known_number(r["phone"]) for r in ROWS["responder"])  # the other town's too
    for number in UNKNOWN_OR_GARBAGE:
        assert not directory.is_known_number(number), number

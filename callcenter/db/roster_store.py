"""Applies a validated Roster to the directory tables in one transaction, and reads it back.

Import is an upsert: households and responders in the roster are added or replaced, nothing
else is touched or deleted. Identity: a household is its 户编号; a town, village, grid or group
is its name within its parent; a responder is (role, scope, name).

Speed comes from set work, not row work: only what the roster names is loaded, in chunked
``IN`` queries; ``contacts.roster.merge`` compares it in memory and decides; the plan is written
with executemany.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, delete, insert, select, text, update

from callcenter.db.tables import (
    EmergencyLine,
    Grid,
    Household,
    JointDefenseGroup,
    ResponderRow,
    Town,
    Village,
    scope_key,
)
from contacts.errors import RosterError
from contacts.model import ESCALATION_ROLE_ORDER, CareFlag, Contact, Role, ScopeLevel
from contacts.phones import DEFAULT_POLICY, PhonePolicy
from contacts.roster import HouseholdRecord, ImportSummary, ResponderRecord, Roster
from contacts.roster.merge import (
    Identity,
    Path,
    Plan,
    Stored,
    StoredHousehold,
    care_values,
    conflicts,
    plan_merge,
)

__all__ = ["RosterStore"]

_t: Table = Town.__table__  # type: ignore[attr-defined]
_v: Table = Village.__table__  # type: ignore[attr-defined]
_gr: Table = Grid.__table__  # type: ignore[attr-defined]
_g: Table = JointDefenseGroup.__table__  # type: ignore[attr-defined]
_h: Table = Household.__table__  # type: ignore[attr-defined]
_line: Table = EmergencyLine.__table__  # type: ignore[attr-defined]
_resp: Table = ResponderRow.__table__  # type: ignore[attr-defined]

Progress = Callable[[int, int], None]  # (rows written so far, rows to write)
CHUNK = 900  # ids per IN list: under every backend's parameter limit
ANALYZE_AFTER_ROWS = 10_000
_TABLES = (_t, _v, _gr, _g, _h, _line, _resp)

# (level, table, parent id column) from the top down; a path of depth n names a place of level n.
_LEVELS: tuple[tuple[ScopeLevel, Table, str | None], ...] = (
    (ScopeLevel.TOWN, _t, None),
    (ScopeLevel.VILLAGE, _v, "town_id"),
    (ScopeLevel.GRID, _gr, "village_id"),
    (ScopeLevel.GROUP, _g, "grid_id"),
)
_DEPTH_LEVEL = {depth: level for depth, (level, _table, _parent) in enumerate(_LEVELS, start=1)}
_PARENT_LEVEL = {level: _DEPTH_LEVEL[depth - 1] for depth, level in _DEPTH_LEVEL.items() if depth > 1}


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---------------------------------------------------------------- what is stored


@dataclass
class _Places:
    """Every town, village, grid and group, by name path and by (level, id)."""

    ids: dict[Path, int] = field(default_factory=dict)
    paths: dict[tuple[ScopeLevel, int], Path] = field(default_factory=dict)

    @classmethod
    def load(cls, conn: Connection) -> _Places:
        places = cls()
        for level, table, parent in _LEVELS:
            places.add_level(conn, level, table, parent)
        return places

    def add_level(self, conn: Connection, level: ScopeLevel, table: Table, parent: str | None) -> None:
        """(Re)read one level; its parents must be read already."""
        parent_level = _PARENT_LEVEL.get(level)
        parent_id = table.c[parent] if parent else table.c.id  # a town's own id stands in, unused
        for row in conn.execute(select(table.c.id, table.c.name, parent_id.label("parent_id"))).all():
            prefix = self.paths[(parent_level, row.parent_id)] if parent_level else ()
            self.ids[(*prefix, row.name)] = row.id
            self.paths[(level, row.id)] = (*prefix, row.name)

    def key(self, path: Path) -> str:
        return scope_key(_DEPTH_LEVEL[len(path)], self.ids[path])


_VALUES: Any = bindparam("values", expanding=True)


def _in(conn: Connection, query: Any, values: Iterable[Any]) -> Iterator[Any]:
    """Rows of ``query`` (with an expanding ``values`` parameter) for every chunk of values."""
    for chunk in _chunks(sorted(set(values))):
        yield from conn.execute(query, {"values": list(chunk)}).all()


def _load_stored(conn: Connection, roster: Roster, places: _Places) -> Stored:
    stored = Stored()
    rows = list(_in(conn, select(_h).where(_h.c.code.in_(_VALUES)), (r.code for r in roster.households)))
    by_id = {row.id: row for row in rows}
    lines, contacts = _lines_of(conn, by_id), _contacts_of(conn, by_id)
    for row in rows:
        content = _stored_content(row, lines[row.id], contacts[row.id])
        stored.households[row.code] = StoredHousehold(row.id, row.code, row.group_id, content)
    stored.line_owners = _line_owners(conn, roster)
    stored.group_contacts = _group_contacts(conn, roster, places, set(by_id))
    stored.responders = _responders_at(conn, roster, places)
    return stored


def _stored_content(row: Any, lines: list[str], contacts: list[tuple[str, str]]) -> tuple[Any, ...]:
    holders = tuple((k["name"], k["phone"]) for k in row.key_holders)
    return (
        row.group_id, row.head, row.label, row.address, care_values(row.care_flags), tuple(row.residents),
        holders, row.notes, tuple(sorted(lines)), tuple(contacts),
    )


def _lines_of(conn: Connection, households: dict[int, Any]) -> defaultdict[int, list[str]]:
    lines: defaultdict[int, list[str]] = defaultdict(list)
    query = select(_line.c.number, _line.c.household_id).where(_line.c.household_id.in_(_VALUES))
    for row in _in(conn, query, households):
        lines[row.household_id].append(row.number)
    return lines


def _contacts_of(conn: Connection, households: dict[int, Any]) -> defaultdict[int, list[tuple[str, str]]]:
    contacts: defaultdict[int, list[tuple[str, str]]] = defaultdict(list)
    query = (
        select(_resp.c.household_id, _resp.c.name, _resp.c.phone)
        .where(_resp.c.household_id.in_(_VALUES))
        .order_by(_resp.c.household_id, _resp.c.position, _resp.c.id)
    )
    for row in _in(conn, query, households):  # a household's contacts share a chunk, in position order
        contacts[row.household_id].append((row.name, row.phone))
    return contacts


def _line_owners(conn: Connection, roster: Roster) -> dict[str, str]:
    query = (
        select(_line.c.number, _h.c.code)
        .select_from(_line.join(_h, _h.c.id == _line.c.household_id))
        .where(_line.c.number.in_(_VALUES))
    )
    return {row.number: row.code for row in _in(conn, query, (n for r in roster.households for n in r.lines))}


def _group_contacts(conn: Connection, roster: Roster, places: _Places, replaced: set[int]) -> Counter[int]:
    """Group-level responders per group that stay as they are (their household is not in the roster)."""
    paths = {r.group_path for r in roster.households if r.group_path in places.ids}
    query = select(_resp.c.scope_id, _resp.c.household_id).where(_resp.c.scope_key.in_(_VALUES))
    kept = Counter[int]()
    for row in _in(conn, query, (places.key(p) for p in paths)):
        if row.household_id not in replaced:
            kept[row.scope_id] += 1
    return kept


def _responders_at(conn: Connection, roster: Roster, places: _Places) -> dict[Identity, tuple[int, str]]:
    keys = (places.key(r.scope) for r in roster.responders if r.scope in places.ids)
    query = select(_resp).where(_resp.c.scope_key.in_(_VALUES), _resp.c.household_id.is_(None))
    found: dict[Identity, tuple[int, str]] = {}
    for row in _in(conn, query, keys):
        path = places.paths[(ScopeLevel(row.scope_level), row.scope_id)]
        found[(row.role, path, row.name)] = (row.id, row.phone)
    return found


# ---------------------------------------------------------------- writing


@dataclass
class _Writer:
    conn: Connection
    places: _Places
    total: int
    progress: Progress | None = None
    done: int = 0

    def many(self, statement: Any, rows: list[dict[str, Any]]) -> list[Any]:
        """Execute for every row, in chunks that report progress; the rows a RETURNING gives back."""
        returned: list[Any] = []
        for chunk in _chunks(rows, 5000):
            result = self.conn.execute(statement, list(chunk))
            returned += result.all() if result.returns_rows else []
            self.done += len(chunk)
            if self.progress is not None:
                self.progress(self.done, self.total)
        return returned

    def write(self, plan: Plan) -> None:
        self.add_places(plan.new_places)
        # Old lines go first: a line may move from an updated household to a new one.
        self.clear_households([i for i, _ in plan.household_updates])
        self.update_households(plan.household_updates)
        added = self.add_households(plan.household_inserts)
        self.add_lines_and_contacts([*plan.household_updates, *added])
        self.add_responders(plan.responder_inserts)
        self.many(
            update(_resp).where(_resp.c.id == bindparam("b_id")).values(phone=bindparam("b_phone")),
            [{"b_id": i, "b_phone": r.phone} for i, r in plan.responder_updates],
        )
        if self.done >= ANALYZE_AFTER_ROWS and self.conn.dialect.name == "postgresql":
            # Fresh planner statistics, or the next import plans its IN lookups for empty tables.
            self.conn.execute(text(f"ANALYZE {', '.join(t.name for t in _TABLES)}"))

    def add_places(self, paths: list[Path]) -> None:
        for depth, (level, table, parent) in enumerate(_LEVELS, start=1):
            new = [p for p in paths if len(p) == depth]
            if not new:
                continue
            self.many(insert(table), [{"name": p[-1], **self.parent_of(parent, p)} for p in new])
            self.places.add_level(self.conn, level, table, parent)

    def parent_of(self, column: str | None, path: Path) -> dict[str, int]:
        return {column: self.places.ids[path[:-1]]} if column else {}

    def add_households(self, records: list[HouseholdRecord]) -> list[tuple[int, HouseholdRecord]]:
        statement = insert(_h).returning(_h.c.id, sort_by_parameter_order=True)
        returned = self.many(statement, [self.household_row(r) for r in records])
        return [(row.id, r) for row, r in zip(returned, records, strict=True)]

    def clear_households(self, household_ids: list[int]) -> None:
        for chunk in _chunks(household_ids):
            self.conn.execute(delete(_line).where(_line.c.household_id.in_(chunk)))
            self.conn.execute(delete(_resp).where(_resp.c.household_id.in_(chunk)))

    def update_households(self, changes: list[tuple[int, HouseholdRecord]]) -> None:
        # Bind names must differ from column names in an UPDATE's SET clause.
        values: dict[str, Any] = {column: bindparam(f"b_{column}") for column in _HOUSEHOLD_COLUMNS}
        statement = update(_h).where(_h.c.id == bindparam("b_id")).values(values)
        rows = [{"b_id": i, **{f"b_{k}": v for k, v in self.household_row(r).items()}} for i, r in changes]
        self.many(statement, rows)

    def add_lines_and_contacts(self, households: list[tuple[int, HouseholdRecord]]) -> None:
        lines = [{"number": n, "household_id": i} for i, r in households for n in r.lines]
        self.many(insert(_line), lines)
        self.many(insert(_resp), [c for i, r in households for c in self.contact_rows(i, r)])

    def add_responders(self, records: list[ResponderRecord]) -> None:
        self.many(insert(_resp), [self.responder_row(r) for r in records])

    def household_row(self, r: HouseholdRecord) -> dict[str, Any]:
        return {
            "code": r.code, "group_id": self.places.ids[r.group_path], "head": r.head,
            "label": r.spoken_label, "address": r.address, "care_flags": list(care_values(r.care_flags)),
            "residents": list(r.residents), "notes": r.notes,
            "key_holders": [{"name": c.name, "phone": c.phone} for c in r.key_holders],
        }

    def contact_rows(self, household_id: int, r: HouseholdRecord) -> Iterator[dict[str, Any]]:
        group_id = self.places.ids[r.group_path]
        for position, contact in enumerate(r.contacts):
            yield {
                "name": contact.name, "phone": contact.phone, "role": Role.HOUSEHOLD_CONTACT.value,
                "scope_level": ScopeLevel.GROUP.value, "scope_id": group_id,
                "scope_key": scope_key(ScopeLevel.GROUP, group_id), "household_id": household_id,
                "position": position,
            }

    def responder_row(self, r: ResponderRecord) -> dict[str, Any]:
        level, scope_id = _DEPTH_LEVEL[len(r.scope)], self.places.ids[r.scope]
        return {
            "name": r.name, "phone": r.phone, "role": r.role.value, "scope_level": level.value,
            "scope_id": scope_id, "scope_key": scope_key(level, scope_id), "household_id": None,
            "position": 0,
        }


_HOUSEHOLD_COLUMNS = (
    "code", "group_id", "head", "label", "address", "care_flags", "residents", "key_holders", "notes",
)


# ---------------------------------------------------------------- the store


class RosterStore:
    """Imports rosters into the directory tables and exports what they hold."""

    def __init__(
        self, engine: Engine, policy: PhonePolicy = DEFAULT_POLICY, max_group_responders: int = 20
    ) -> None:
        self._engine = engine
        self.policy = policy
        self.max_group_responders = max_group_responders

    def apply(
        self, roster: Roster, *, dry_run: bool = False, progress: Progress | None = None
    ) -> ImportSummary:
        """Add or update everything in ``roster`` in one transaction.

        Raises RosterError listing every conflict with what is stored; then nothing is written.
        ``dry_run`` checks and counts everything but writes nothing.
        """
        with self._engine.begin() as conn:
            places = _Places.load(conn)
            stored = _load_stored(conn, roster, places)
            problems = conflicts(roster, places.ids, stored, self.max_group_responders)
            if problems:
                raise RosterError(problems)
            plan = plan_merge(roster, places.ids, stored)
            if not dry_run:
                _Writer(conn, places, plan.rows_to_write(), progress).write(plan)
        return plan.summary(dry_run)

    def load(self) -> Roster:
        """Everything stored, as a roster in a stable order (by place, then 户编号)."""
        with self._engine.connect() as conn:
            places = _Places.load(conn)
            households = _load_households(conn, places)
            responders = _load_responders(conn, places)
        return Roster(households=households, responders=responders)


def _load_households(conn: Connection, places: _Places) -> list[HouseholdRecord]:
    lines: defaultdict[int, list[str]] = defaultdict(list)
    for row in conn.execute(select(_line.c.number, _line.c.household_id)).all():
        lines[row.household_id].append(row.number)
    contacts: defaultdict[int, list[Contact]] = defaultdict(list)
    query = (
        select(_resp)
        .where(_resp.c.household_id.is_not(None))
        .order_by(_resp.c.household_id, _resp.c.position)
    )
    for row in conn.execute(query).all():
        contacts[row.household_id].append(Contact(row.name, row.phone))
    records = [
        _household_record(row, places, lines[row.id], contacts[row.id]) for row in conn.execute(select(_h)).all()
    ]
    return sorted(records, key=lambda r: (r.group_path, r.code))


def _household_record(
    row: Any, places: _Places, lines: list[str], contacts: list[Contact]
) -> HouseholdRecord:
    town, village, grid, group = places.paths[(ScopeLevel.GROUP, row.group_id)]
    return HouseholdRecord(
        row=0, town=town, village=village, grid=grid, group=group, code=row.code, head=row.head,
        address=row.address, lines=tuple(sorted(lines)), contacts=tuple(contacts), label=row.label,
        care_flags=frozenset(CareFlag(f) for f in row.care_flags), residents=tuple(row.residents),
        key_holders=tuple(Contact(k["name"], k["phone"]) for k in row.key_holders), notes=row.notes,
    )


def _load_responders(conn: Connection, places: _Places) -> list[ResponderRecord]:
    rank = {role: i for i, role in enumerate(ESCALATION_ROLE_ORDER)}
    records = [
        ResponderRecord(
            row=0, name=row.name, role=Role(row.role), phone=row.phone,
            scope=places.paths[(ScopeLevel(row.scope_level), row.scope_id)],
        )
        for row in conn.execute(select(_resp).where(_resp.c.household_id.is_(None)))
    ]
    return sorted(records, key=lambda r: (r.scope, rank[r.role], r.name))

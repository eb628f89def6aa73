"""In-memory incident store and directory: the fakes behind the engine's unit tests.

They answer as the SQL adapters do (``callcenter.db.incident_repo``, ``callcenter.db.directory_repo``),
and one contract suite holds them to it (tests/integration/test_incident_store_contract.py and
test_directory_contract.py, each run on memory, SQLite and PostgreSQL):

- ``MemoryIncidentStore`` keeps rows as the tables do (written and read back with the same codec, JSON
  columns as JSON, times as UTC), so an aggregate change the SQL store would not write is not kept here
  either. A unit of work sees the stored rows and its own writes; its commit applies them all or none.
  Saves are optimistic: a save or commit that finds the incident's version moved, or its open key taken,
  raises ``ConcurrentUpdateError``. A leg is claimed only while pending and unclaimed, under the store's
  lock, so no leg is handed out twice. Every method is safe from any thread.
- ``MemoryDirectory`` holds households with their places and responders at the level they cover; a
  lookup normalises the number and returns the household with its lines and the responders of its
  group, grid, village and town, ordered by ``order_responders``. Read-only once built.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from callcenter.domain import incident_codec as codec
from callcenter.domain.incident import Incident, IncidentEvent
from callcenter.domain.types import LegStatus
from callcenter.service.ports import ConcurrentUpdateError, LegClaims, LegRef, Overdue
from callcenter.service.read_models import StoredEvent, StoredLeg
from contacts.model import CallerLookup, HouseholdProfile, Place, Responder, ScopeLevel, order_responders
from contacts.phones import DEFAULT_POLICY, PhonePolicy, try_normalise

__all__ = ["MemoryDirectory", "MemoryIncidentStore"]

Row = dict[str, Any]
_IN_FLIGHT = frozenset(str(s) for s in (LegStatus.PENDING, LegStatus.DIALING, LegStatus.RINGING, LegStatus.ANSWERED))
_OPEN = frozenset({"alerting", "acknowledged"})
_LEG_UPDATE = ("status", "updated_at", "provider_ref", "detail", "interrupted")  # what a save may change of a leg
_JSON_COLUMNS = ("plan", "acks", "data")


def _stored(values: Row) -> Row:
    """A row as the database keeps it: times in UTC (naive ones refused), JSON columns as JSON."""
    row = dict(values)
    for name, value in row.items():
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("naive datetime: the service stores UTC-aware times only")
            row[name] = value.astimezone(UTC)
        elif name in _JSON_COLUMNS:
            row[name] = json.loads(json.dumps(value))
    return row


def _read(row: Row) -> Any:
    """A row as a query returns it: attributes, a copy of its own."""
    return SimpleNamespace(**copy.deepcopy(row))


def _claim_values(leg_id: str, claims: LegClaims | None) -> Row:
    provider = claims.providers.get(leg_id) if claims else None
    if claims is None or provider is None:
        return {"claimed_by": None, "claimed_at": None, "provider": ""}
    return {"claimed_by": claims.holder, "claimed_at": claims.at, "provider": provider}


@dataclass
class _Writes:
    """What a unit of work has written and not yet committed."""

    added: dict[str, Row] = field(default_factory=dict)  # new incident rows
    changed: dict[str, tuple[int, Row]] = field(default_factory=dict)  # id → (version read, columns set)
    released: set[str] = field(default_factory=set)  # incidents whose open key was released
    new_legs: dict[str, Row] = field(default_factory=dict)
    leg_changes: dict[str, Row] = field(default_factory=dict)
    events: list[Row] = field(default_factory=list)
    claims: list[tuple[str, str, str, datetime]] = field(default_factory=list)

    def touched(self) -> set[str]:
        return set(self.added) | set(self.changed) | self.released


class MemoryIncidentStore:
    """The incident tables in memory; see the module docstring for what it promises."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._incidents: dict[str, Row] = {}
        self._open_keys: dict[str, str] = {}  # open key → incident id (unique, as the column is)
        self._legs: dict[str, Row] = {}
        self._legs_of: dict[str, list[str]] = {}
        self._events: list[Row] = []

    def unit_of_work(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self)

    # -- the port ------------------------------------------------------------------------------

    def claim(self, leg_ids: Sequence[str], holder: str, providers: dict[str, str], now: datetime) -> list[str]:
        """Mark pending, unclaimed legs as handed to a channel by ``holder``; returns those won."""
        won: list[str] = []
        with self._lock:
            for leg_id in sorted(leg_ids):
                leg = self._legs.get(leg_id)
                if leg is not None and leg["status"] == "pending" and leg["claimed_by"] is None:
                    leg.update(_stored({"claimed_by": holder, "claimed_at": now,
                                        "provider": providers.get(leg_id, "")}))
                    won.append(leg_id)
        return won

    def due_legs(self, now: datetime, limit: int = 500) -> list[LegRef]:
        with self._lock:
            due = [leg for leg in self._legs.values()
                   if leg["status"] == "pending" and leg["claimed_by"] is None and leg["due_at"] <= now]
        due.sort(key=lambda leg: (-leg["level"], leg["due_at"]))
        return [LegRef(leg["incident_id"], leg["id"]) for leg in due[:limit]]

    def in_flight_holders(self) -> set[str]:
        with self._lock:
            return {leg["claimed_by"] for leg in self._legs.values()
                    if leg["status"] in _IN_FLIGHT and leg["claimed_by"] is not None}

    def in_flight(self, holders: Sequence[str]) -> list[LegRef]:
        """Legs handed to a channel by one of ``holders`` that have no final outcome yet."""
        with self._lock:
            return [LegRef(leg["incident_id"], leg["id"], leg["provider"], leg["claimed_by"], leg["recipient_phone"])
                    for leg in self._legs.values() if leg["status"] in _IN_FLIGHT and leg["claimed_by"] in holders]

    def unreported_sms(self, submitted_before: datetime, limit: int = 500) -> list[LegRef]:
        with self._lock:
            found = [leg for leg in self._legs.values() if leg["status"] == "submitted" and leg["channel"] == "sms"
                     and leg["updated_at"] < submitted_before]
        found.sort(key=lambda leg: leg["updated_at"])
        return [LegRef(leg["incident_id"], leg["id"]) for leg in found[:limit]]

    def open_incident_ids(self) -> list[str]:
        with self._lock:
            found = [row for row in self._incidents.values() if row["status"] in _OPEN]
        return [row["id"] for row in sorted(found, key=lambda row: row["opened_at"])]

    def due_escalations(self, now: datetime) -> list[tuple[str, int, int]]:
        """(incident, next level, token) of alerting incidents whose next escalation is due."""
        with self._lock:
            return [(row["id"], row["level"] + 1, row["escalation_token"]) for row in self._incidents.values()
                    if row["status"] == "alerting" and row["next_escalation_at"] is not None
                    and row["next_escalation_at"] <= now]

    def overdue(self, now: datetime, grace: timedelta) -> list[Overdue]:
        """Escalations of alerting incidents and pending legs of open incidents late by more than
        ``grace``, oldest first."""
        before = now - grace
        with self._lock:
            found = [(row["id"], f"escalation to level {row['level'] + 1}", row["next_escalation_at"])
                     for row in self._incidents.values() if row["status"] == "alerting"
                     and row["next_escalation_at"] is not None and row["next_escalation_at"] < before]
            found += [(leg["incident_id"], f"leg {leg['id']}", leg["due_at"]) for leg in self._legs.values()
                      if leg["status"] == "pending" and leg["due_at"] < before
                      and self._incidents[leg["incident_id"]]["status"] in _OPEN]
        return [Overdue(incident_id, what, due_at, now - due_at)
                for incident_id, what, due_at in sorted(found, key=lambda item: item[2])]

    def append_events(self, incident_id: str, events: list[IncidentEvent]) -> None:
        with self._lock:
            if incident_id not in self._incidents:  # the event table's foreign key
                raise ValueError(f"no incident {incident_id} to add events to")
            self._add_events([_stored(codec.event_values(incident_id, e)) for e in events])

    # -- reads for tests (as SqlIncidentStore's) -------------------------------------------------

    def incidents(self, limit: int = 50, status: str | None = None) -> list[Any]:
        with self._lock:
            rows = [row for row in self._incidents.values() if status is None or row["status"] == status]
            rows.sort(key=lambda row: row["opened_at"], reverse=True)
            return [_read(row) for row in rows[:limit]]

    def incident_row(self, incident_id: str) -> Any:
        with self._lock:
            row = self._incidents.get(incident_id)
            return None if row is None else _read(row)

    def legs(self, incident_id: str) -> list[StoredLeg]:
        with self._lock:
            rows = sorted((self._legs[leg_id] for leg_id in self._legs_of.get(incident_id, ())),
                          key=lambda row: (row["created_at"], row["id"]))
            return [StoredLeg.of(copy.deepcopy(row)) for row in rows]

    def timeline(self, incident_id: str) -> list[StoredEvent]:
        with self._lock:
            rows = sorted((row for row in self._events if row["incident_id"] == incident_id),
                          key=lambda row: (row["at"], row["id"]))
            return [StoredEvent.of(copy.deepcopy(row)) for row in rows]

    # -- for units of work (under the lock) ---------------------------------------------------

    def _incident(self, incident_id: str, writes: _Writes) -> Row | None:
        """The incident row as a unit of work with ``writes`` sees it."""
        with self._lock:
            row = copy.deepcopy(writes.added.get(incident_id) or self._incidents.get(incident_id))
        if row is None:
            return None
        if incident_id in writes.changed:
            row = {**row, **writes.changed[incident_id][1]}
        if incident_id in writes.released:
            row["open_key"] = None
        return row

    def _open_id(self, open_key: str, writes: _Writes) -> str | None:
        with self._lock:
            stored = self._open_keys.get(open_key)
        candidates = [stored, *writes.added, *writes.changed]
        return next((i for i in candidates if i is not None
                     and (row := self._incident(i, writes)) is not None and row["open_key"] == open_key), None)

    def _leg_rows(self, incident_id: str, writes: _Writes) -> list[Row]:
        with self._lock:
            rows = [copy.deepcopy(self._legs[leg_id]) for leg_id in self._legs_of.get(incident_id, ())]
        rows += [dict(row) for row in writes.new_legs.values() if row["incident_id"] == incident_id]
        for row in rows:
            row.update(writes.leg_changes.get(row["id"], {}))
        claims = {leg_id: (holder, provider, at) for leg_id, holder, provider, at in reversed(writes.claims)}
        for row in rows:
            if row["claimed_by"] is None and row["id"] in claims:
                holder, provider, at = claims[row["id"]]
                row.update(_stored({"claimed_by": holder, "provider": provider, "claimed_at": at}))
        return rows

    def _commit(self, writes: _Writes) -> None:
        with self._lock:
            touched = self._check(writes)
            for incident_id in touched:
                self._put_incident(incident_id, writes)
            for row in writes.new_legs.values():
                self._legs[row["id"]] = row
                self._legs_of.setdefault(row["incident_id"], []).append(row["id"])
            for leg_id, values in writes.leg_changes.items():
                self._legs[leg_id].update(values)
            for leg_id, holder, provider, at in writes.claims:
                leg = self._legs.get(leg_id)
                if leg is not None and leg["claimed_by"] is None:
                    leg.update(_stored({"claimed_by": holder, "provider": provider, "claimed_at": at}))
            self._add_events(writes.events)

    def _check(self, writes: _Writes) -> set[str]:
        """Refuse the whole commit as the database would refuse one of its statements; returns the
        incidents it writes (releasing the open key of an incident not stored writes nothing)."""
        for incident_id in writes.added:
            if incident_id in self._incidents:
                raise ConcurrentUpdateError(f"incident {incident_id} stored already")
        for incident_id, (version, _) in writes.changed.items():
            stored = self._incidents.get(incident_id)
            if stored is None or stored["version"] != version:
                raise ConcurrentUpdateError(f"incident {incident_id} changed since it was read")
        if any(leg_id in self._legs for leg_id in writes.new_legs):
            raise ConcurrentUpdateError("a leg of the incident was stored by another writer")
        touched = {i for i in writes.touched() if i in writes.added or i in self._incidents}
        keys: dict[str, str] = {}
        for incident_id in touched:
            key = self._final(incident_id, writes)["open_key"]
            holder = self._open_keys.get(key) if key is not None else None
            if key is not None and ((holder not in (None, incident_id) and holder not in touched)
                                    or keys.setdefault(key, incident_id) != incident_id):
                raise ConcurrentUpdateError(f"open key {key} taken")
        return touched

    def _final(self, incident_id: str, writes: _Writes) -> Row:
        row = dict(writes.added.get(incident_id) or self._incidents[incident_id])
        row.update(writes.changed.get(incident_id, (0, {}))[1])
        if incident_id in writes.released:
            row["open_key"] = None
        return row

    def _put_incident(self, incident_id: str, writes: _Writes) -> None:
        old = self._incidents.get(incident_id)
        if old is not None and self._open_keys.get(old["open_key"]) == incident_id:
            del self._open_keys[old["open_key"]]  # unless an incident written before it took the key over
        row = self._incidents[incident_id] = self._final(incident_id, writes)
        if row["open_key"] is not None:
            self._open_keys[row["open_key"]] = incident_id

    def _add_events(self, rows: list[Row]) -> None:
        start = len(self._events) + 1
        self._events += [{**row, "id": start + n} for n, row in enumerate(rows)]


class MemoryIncidentRepository:
    """One unit of work's view of the incidents: the stored rows and its own writes."""

    def __init__(self, store: MemoryIncidentStore) -> None:
        self._store = store
        self.writes = _Writes()
        self._known_legs: dict[str, set[str]] = {}
        self._claimed_legs: dict[str, set[str]] = {}

    def get(self, incident_id: str) -> Incident | None:
        row = self._store._incident(incident_id, self.writes)
        return None if row is None else self._load(row)

    def find_open(self, open_key: str) -> Incident | None:
        incident_id = self._store._open_id(open_key, self.writes)
        return None if incident_id is None else self.get(incident_id)

    def release_open_key(self, incident_id: str) -> None:
        self.writes.released.add(incident_id)

    def add(self, incident: Incident, open_key: str | None, claims: LegClaims | None = None) -> None:
        taken = open_key is not None and self._store._open_id(open_key, self.writes) is not None
        if taken or self._store._incident(incident.id, self.writes) is not None:
            raise ConcurrentUpdateError(f"open key {open_key} taken")
        values = codec.incident_values(incident, incident.opened_at)
        self.writes.added[incident.id] = _stored({**values, "plan": codec.plan_to_json(incident.plan),
                                                  "open_key": open_key, "version": 1})
        self._known_legs[incident.id] = set()
        self._claimed_legs[incident.id] = set(claims.providers) if claims else set()
        self._write_children(incident, claims)
        incident.version = 1

    def save(self, incident: Incident, now: datetime) -> None:
        row = self._store._incident(incident.id, self.writes)
        if row is None or row["version"] != incident.version:
            raise ConcurrentUpdateError(f"incident {incident.id} changed since it was read")
        values = codec.incident_values(incident, now)
        if not incident.status.is_open:
            values["open_key"] = None
        values = _stored(values | {"version": incident.version + 1})
        if incident.id in self.writes.added:
            self.writes.added[incident.id].update(values)
        else:
            read, before = self.writes.changed.get(incident.id, (incident.version, {}))
            self.writes.changed[incident.id] = (read, before | values)
        self._write_children(incident)
        incident.version += 1

    def record_claims(self, claims: Sequence[tuple[str, str, str, datetime]]) -> None:
        """Mark legs as handed to a channel by ``holder`` at a past time; a leg already claimed keeps its claim."""
        for leg_id, holder, provider, at in claims:
            self.writes.claims.append((leg_id, holder, provider, at))
            self._claimed_legs.setdefault(leg_id.split("/", 1)[0], set()).add(leg_id)

    def claimed_legs(self, incident_id: str) -> frozenset[str]:
        return frozenset(self._claimed_legs.get(incident_id, ()))

    def _load(self, row: Row) -> Incident:
        rows = self._store._leg_rows(row["id"], self.writes)
        legs = [codec.leg_from_row(_read(r)) for r in rows]
        self._known_legs[row["id"]] = {leg.id for leg in legs}
        self._claimed_legs[row["id"]] = {r["id"] for r in rows if r["claimed_by"] is not None}
        return codec.incident_from_row(_read(row), legs, codec.plan_from_json(row["plan"]))

    def _write_children(self, incident: Incident, claims: LegClaims | None = None) -> None:
        known = self._known_legs.setdefault(incident.id, set())
        for leg in (incident.legs[i] for i in sorted(incident.changed_legs)):
            values = _stored(codec.leg_values(leg))
            if leg.id in self.writes.new_legs:
                self.writes.new_legs[leg.id].update({name: values[name] for name in _LEG_UPDATE})
            elif leg.id in known:
                self.writes.leg_changes[leg.id] = {name: values[name] for name in _LEG_UPDATE}
            else:
                self.writes.new_legs[leg.id] = values | _stored(_claim_values(leg.id, claims))
            known.add(leg.id)
        self.writes.events += [_stored(codec.event_values(incident.id, e)) for e in incident.new_events]


class MemoryUnitOfWork:
    """Writes nothing until ``commit``; leaving without one drops its writes (a rollback)."""

    def __init__(self, store: MemoryIncidentStore) -> None:
        self._store = store
        self.incidents = MemoryIncidentRepository(store)

    def __enter__(self) -> MemoryUnitOfWork:
        return self

    def __exit__(self, *exc: object) -> None:
        self.incidents.writes = _Writes()

    def commit(self) -> None:
        writes, self.incidents.writes = self.incidents.writes, _Writes()
        self._store._commit(writes)


class MemoryDirectory:
    """The directory in memory; see the module docstring. ``of`` builds one from callers' lookups."""

    def __init__(self, households: Iterable[tuple[Place, HouseholdProfile]] = (),
                 responders: Iterable[Responder] = (), policy: PhonePolicy = DEFAULT_POLICY) -> None:
        self._policy = policy
        self._households: dict[int, tuple[Place, HouseholdProfile]] = {}
        self._codes: dict[str, int] = {}
        self._lines: dict[str, int] = {}
        self._responders: dict[tuple[ScopeLevel, int], list[Responder]] = {}
        self._phones: set[str] = set()
        for place, household in households:
            self._add_household(place, household)
        ids: set[int] = set()
        for responder in responders:
            if responder.id in ids:
                raise ValueError(f"responder {responder.id} given twice")
            ids.add(responder.id)
            self._responders.setdefault((responder.scope, responder.scope_id), []).append(responder)
            self._phones.add(responder.phone)

    @classmethod
    def of(cls, *lookups: CallerLookup, policy: PhonePolicy = DEFAULT_POLICY) -> MemoryDirectory:
        """The callers' households, and every responder their lookups name (each under its own scope)."""
        responders: dict[int, Responder] = {}
        for found in lookups:
            for r in (*found.own_contacts, *found.neighbours, *found.upper_levels):
                if responders.setdefault(r.id, r) != r:
                    raise ValueError(f"responder {r.id} differs between two lookups")
        households = {found.household.id: (found.place, found.household) for found in lookups}
        return cls(households.values(), responders.values(), policy)

    def close(self) -> None:
        """Nothing to release (``SqlDirectory.close`` disposes of a pool)."""

    def household_by_caller(self, number: str) -> CallerLookup | None:
        canonical = try_normalise(number, self._policy)
        household_id = self._lines.get(canonical) if canonical is not None else None
        return None if household_id is None else self.household_by_id(household_id)

    def household_by_id(self, household_id: int) -> CallerLookup | None:
        found = self._households.get(household_id)
        if found is None:
            return None
        place, household = found
        keys = ((ScopeLevel.GROUP, place.group_id), (ScopeLevel.GRID, place.grid_id),
                (ScopeLevel.VILLAGE, place.village_id), (ScopeLevel.TOWN, place.town_id))
        own, neighbours, upper = order_responders([r for key in keys for r in self._responders.get(key, ())],
                                                  household.id)
        return CallerLookup(household, place, own, neighbours, upper)

    def household_by_code(self, code: str) -> CallerLookup | None:
        household_id = self._codes.get(code)
        return None if household_id is None else self.household_by_id(household_id)

    def is_known_number(self, number: str) -> bool:
        """Whether ``number`` is a household's emergency line or a responder's phone; an unparseable one never is."""
        canonical = try_normalise(number, self._policy)
        return canonical is not None and (canonical in self._lines or canonical in self._phones)

    def _add_household(self, place: Place, household: HouseholdProfile) -> None:
        if household.id in self._households or household.code in self._codes:
            raise ValueError(f"household {household.id} ({household.code}) given twice")
        for line in household.emergency_lines:
            if self._lines.setdefault(line, household.id) != household.id:
                raise ValueError(f"line {line} belongs to two households")
        lines = tuple(sorted(household.emergency_lines))
        self._households[household.id] = (place, replace(household, emergency_lines=lines))
        self._codes[household.code] = household.id

"""SQL storage of incidents: a unit of work over the aggregate, plus leg claims and queries.

Saves are optimistic: each incident row carries a version, and a save that finds another writer
got there first raises ConcurrentUpdateError so the engine re-runs the command on fresh state.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Update, and_, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from callcenter.db.incident_tables import AlertLegRow, IncidentEventRow, IncidentRow, LeaseRow
from callcenter.db.plan_cache import PLANS
from callcenter.domain import incident_codec as codec
from callcenter.domain.incident import Incident, IncidentEvent
from callcenter.domain.types import LegStatus
from callcenter.service.ports import ConcurrentUpdateError, LegClaims, LegRef, Overdue
from callcenter.service.read_models import StoredEvent, StoredLeg

__all__ = ["SqlIncidentStore", "SqlUnitOfWork"]

_inc = IncidentRow.__table__  # type: ignore[attr-defined]
_leg = AlertLegRow.__table__  # type: ignore[attr-defined]
_evt = IncidentEventRow.__table__  # type: ignore[attr-defined]
_lease = LeaseRow.__table__  # type: ignore[attr-defined]
# The incident row without its plan: plans come decoded from the cache (callcenter/db/plan_cache.py).
_ROW = tuple(c for c in _inc.c if c.name != "plan")
_IN_FLIGHT = [str(s) for s in (LegStatus.PENDING, LegStatus.DIALING, LegStatus.RINGING, LegStatus.ANSWERED)]


class SqlIncidentRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._known_legs: dict[str, set[str]] = {}
        self._claimed_legs: dict[str, set[str]] = {}

    def get(self, incident_id: str) -> Incident | None:
        row = self._conn.execute(select(*_ROW).where(_inc.c.id == incident_id)).first()
        return None if row is None else self._load(row)

    def find_open(self, open_key: str) -> Incident | None:
        row = self._conn.execute(select(*_ROW).where(_inc.c.open_key == open_key)).first()
        return None if row is None else self._load(row)

    def release_open_key(self, incident_id: str) -> None:
        self._conn.execute(update(_inc).where(_inc.c.id == incident_id).values(open_key=None))

    def add(self, incident: Incident, open_key: str | None, claims: LegClaims | None = None) -> None:
        values = codec.incident_values(incident, incident.opened_at)
        try:
            self._conn.execute(insert(_inc), {**values, "plan": codec.plan_to_json(incident.plan),
                                              "open_key": open_key, "version": 1})
        except IntegrityError as exc:
            raise ConcurrentUpdateError(f"open key {open_key} taken") from exc
        self._known_legs[incident.id] = set()
        self._claimed_legs[incident.id] = set(claims.providers) if claims else set()
        self._write_children(incident, claims)
        incident.version = 1
        PLANS.put(incident.id, incident.plan)

    def save(self, incident: Incident, now: datetime) -> None:
        values = codec.incident_values(incident, now)
        if not incident.status.is_open:
            values["open_key"] = None
        values |= {"version": incident.version + 1}
        done = self._conn.execute(_save_statement(tuple(values)),
                                  {**values, "incident_id": incident.id, "read_version": incident.version})
        if done.rowcount != 1:
            raise ConcurrentUpdateError(f"incident {incident.id} changed since it was read")
        self._write_children(incident)
        incident.version += 1

    def record_claims(self, claims: Sequence[tuple[str, str, str, datetime]]) -> None:
        """Mark legs as handed to a channel by ``holder`` at a past time (legs placed from the press
        spool during a database outage); a leg already claimed keeps its claim."""
        for leg_id, holder, provider, at in claims:
            self._conn.execute(update(_leg).where(and_(_leg.c.id == leg_id, _leg.c.claimed_by.is_(None)))
                               .values(claimed_by=holder, claimed_at=at, provider=provider))
            self._claimed_legs.setdefault(leg_id.split("/", 1)[0], set()).add(leg_id)

    def claimed_legs(self, incident_id: str) -> frozenset[str]:
        return frozenset(self._claimed_legs.get(incident_id, ()))

    def _load(self, row: Any) -> Incident:
        rows = self._conn.execute(select(_leg).where(_leg.c.incident_id == row.id)).all()
        legs = [codec.leg_from_row(r) for r in rows]
        self._known_legs[row.id] = {leg.id for leg in legs}
        self._claimed_legs[row.id] = {r.id for r in rows if r.claimed_by is not None}
        plan = PLANS.plans([row.id], self._stored_plans, codec.plan_from_json)[row.id]
        return codec.incident_from_row(row, legs, plan)

    def _stored_plans(self, incident_ids: list[str]) -> list[Any]:
        return list(self._conn.execute(select(_inc.c.id, _inc.c.plan).where(_inc.c.id.in_(incident_ids))))

    def _write_children(self, incident: Incident, claims: LegClaims | None = None) -> None:
        known = self._known_legs.setdefault(incident.id, set())
        changed = [incident.legs[i] for i in sorted(incident.changed_legs)]
        new = [codec.leg_values(leg) | _claim_values(leg.id, claims) for leg in changed if leg.id not in known]
        old = [codec.leg_values(leg) for leg in changed if leg.id in known]
        if new:
            self._conn.execute(insert(_leg), new)
        if old:
            self._conn.execute(_UPDATE_LEG, [{**v, "leg_id": v["id"]} for v in old])
        if incident.new_events:
            self._conn.execute(insert(_evt), [codec.event_values(incident.id, e) for e in incident.new_events])
        known.update(leg.id for leg in changed)


def _claim_values(leg_id: str, claims: LegClaims | None) -> dict[str, Any]:
    provider = claims.providers.get(leg_id) if claims else None
    if claims is None or provider is None:
        return {"claimed_by": None, "claimed_at": None, "provider": ""}
    return {"claimed_by": claims.holder, "claimed_at": claims.at, "provider": provider}


_UPDATE_LEG = (
    update(_leg).where(_leg.c.id == bindparam("leg_id"))
    .values(status=bindparam("status"), updated_at=bindparam("updated_at"),
            provider_ref=bindparam("provider_ref"), detail=bindparam("detail"),
            interrupted=bindparam("interrupted"))
)

_SAVES: dict[tuple[str, ...], Update] = {}


def _save_statement(columns: tuple[str, ...]) -> Update:
    """The optimistic save for these columns, built once per column set: building a statement
    (and its cache key) on every save cost more than running it."""
    statement = _SAVES.get(columns)
    if statement is None:
        statement = _SAVES[columns] = (
            update(_inc).where(and_(_inc.c.id == bindparam("incident_id"), _inc.c.version == bindparam("read_version")))
            .values({name: bindparam(name) for name in columns})
        )
    return statement


# One statement built once: building it per leg (and its cache key) cost more than running it.
_CLAIM_LEG = (
    update(_leg).where(and_(_leg.c.id == bindparam("leg_id"), _leg.c.status == "pending", _leg.c.claimed_by.is_(None)))
    .values(claimed_by=bindparam("holder"), claimed_at=bindparam("at"), provider=bindparam("provider_name"))
)


class SqlUnitOfWork:
    incidents: SqlIncidentRepository

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    def __enter__(self) -> SqlUnitOfWork:
        self._conn = self._engine.connect()
        self._conn.begin()
        self.incidents = SqlIncidentRepository(self._conn)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._conn is not None
        if self._conn.in_transaction():
            self._conn.rollback()
        self._conn.close()

    def commit(self) -> None:
        assert self._conn is not None
        self._conn.commit()


class SqlIncidentStore:
    """Everything about incidents that is not one aggregate's command: claims, due legs, queries."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine)

    def claim(self, leg_ids: Sequence[str], holder: str, providers: dict[str, str], now: datetime) -> list[str]:
        """Mark pending, unclaimed legs as handed to a channel by ``holder``; returns those won."""
        won: list[str] = []
        with self.engine.begin() as conn:
            # Always in the same order: two claimers of overlapping legs must not deadlock.
            for leg_id in sorted(leg_ids):
                done = conn.execute(_CLAIM_LEG, {"leg_id": leg_id, "holder": holder, "at": now,
                                                 "provider_name": providers.get(leg_id, "")})
                if done.rowcount == 1:
                    won.append(leg_id)
        return won

    def due_legs(self, now: datetime, limit: int = 500) -> list[LegRef]:
        query = (select(_leg.c.incident_id, _leg.c.id).where(and_(
            _leg.c.status == "pending", _leg.c.claimed_by.is_(None), _leg.c.due_at <= now))
            .order_by(_leg.c.level.desc(), _leg.c.due_at).limit(limit))
        with self.engine.connect() as conn:
            return [LegRef(r.incident_id, r.id) for r in conn.execute(query)]

    def in_flight_holders(self) -> set[str]:
        """The instances holding legs in flight: the sweep asks this every 2 s, and reads the legs
        themselves (thousands of them in a flood) only for an instance that died."""
        query = select(_leg.c.claimed_by).distinct().where(and_(
            _leg.c.status.in_(_IN_FLIGHT), _leg.c.claimed_by.is_not(None)))
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def in_flight(self, holders: Sequence[str]) -> list[LegRef]:
        """Legs handed to a channel by one of ``holders`` that have no final outcome yet."""
        query = select(_leg.c.incident_id, _leg.c.id, _leg.c.provider, _leg.c.claimed_by,
                       _leg.c.recipient_phone).where(and_(
            _leg.c.status.in_(_IN_FLIGHT), _leg.c.claimed_by.in_(list(holders))))
        with self.engine.connect() as conn:
            return [LegRef(r.incident_id, r.id, r.provider, r.claimed_by, r.recipient_phone)
                    for r in conn.execute(query)]

    def unreported_sms(self, submitted_before: datetime, limit: int = 500) -> list[LegRef]:
        query = (select(_leg.c.incident_id, _leg.c.id).where(and_(
            _leg.c.status == "submitted", _leg.c.channel == "sms", _leg.c.updated_at < submitted_before))
            .order_by(_leg.c.updated_at).limit(limit))
        with self.engine.connect() as conn:
            return [LegRef(r.incident_id, r.id) for r in conn.execute(query)]

    def open_incident_ids(self) -> list[str]:
        query = select(_inc.c.id).where(_inc.c.status.in_(["alerting", "acknowledged"])).order_by(_inc.c.opened_at)
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def due_escalations(self, now: datetime) -> list[tuple[str, int, int]]:
        """(incident, next level, token) of alerting incidents whose next escalation is due."""
        query = select(_inc.c.id, _inc.c.level, _inc.c.escalation_token).where(and_(
            _inc.c.status == "alerting", _inc.c.next_escalation_at <= now))
        with self.engine.connect() as conn:
            return [(r.id, r.level + 1, r.escalation_token) for r in conn.execute(query)]

    def overdue(self, now: datetime, grace: timedelta) -> list[Overdue]:
        """Escalations of alerting incidents and pending legs of open incidents late by more than
        ``grace``, oldest first: what the auditor flags. Read from the two indexed columns, not by loading
        every open incident (a flood has a thousand of them, and the auditor runs every 5 s)."""
        before = now - grace
        escalations = select(_inc.c.id, _inc.c.level, _inc.c.next_escalation_at).where(and_(
            _inc.c.status == "alerting", _inc.c.next_escalation_at < before))
        legs = (select(_leg.c.incident_id, _leg.c.id, _leg.c.due_at)
                .join(_inc, _inc.c.id == _leg.c.incident_id)
                .where(and_(_leg.c.status == "pending", _leg.c.due_at < before,
                            _inc.c.status.in_(["alerting", "acknowledged"]))))
        with self.engine.connect() as conn:
            found = [(r.id, f"escalation to level {r.level + 1}", r.next_escalation_at)
                     for r in conn.execute(escalations)]
            found += [(r.incident_id, f"leg {r.id}", r.due_at) for r in conn.execute(legs)]
        return [Overdue(incident_id, what, due_at, now - due_at)
                for incident_id, what, due_at in sorted(found, key=lambda item: item[2])]

    def append_events(self, incident_id: str, events: list[IncidentEvent]) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(_evt), [codec.event_values(incident_id, e) for e in events])

    def incidents(self, limit: int = 50, status: str | None = None) -> list[Any]:
        query = select(_inc).order_by(_inc.c.opened_at.desc()).limit(limit)
        if status:
            query = query.where(_inc.c.status == status)
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def incident_row(self, incident_id: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(_inc).where(_inc.c.id == incident_id)).first()

    def legs(self, incident_id: str) -> list[StoredLeg]:
        query = select(_leg).where(_leg.c.incident_id == incident_id).order_by(_leg.c.created_at, _leg.c.id)
        with self.engine.connect() as conn:
            return [StoredLeg.of(row._mapping) for row in conn.execute(query)]

    def submitted_leg_by_ref(self, prefix: str, message_id: str) -> tuple[str, str] | None:
        """The submitted leg whose provider_ref (``<path>:<id>,<id>…``, as the failover channel stores it)
        names ``message_id``: (leg id, provider_ref). For providers whose reports carry only their own
        message id (an SMSC's receipt) when the mapping in memory was lost with a restart. Scans only
        submitted legs (the status index)."""
        query = (select(_leg.c.id, _leg.c.provider_ref)
                 .where(_leg.c.status == LegStatus.SUBMITTED, _leg.c.provider_ref.like(f"{prefix}:%"),
                        _leg.c.provider_ref.contains(message_id, autoescape=True)))
        with self.engine.connect() as conn:
            for leg_id, ref in conn.execute(query):
                if message_id in ref.removeprefix(f"{prefix}:").split(","):
                    return str(leg_id), str(ref)
        return None

    def timeline(self, incident_id: str) -> list[StoredEvent]:
        query = select(_evt).where(_evt.c.incident_id == incident_id).order_by(_evt.c.at, _evt.c.id)
        with self.engine.connect() as conn:
            return [StoredEvent.of(row._mapping) for row in conn.execute(query)]

    # -- leases ----------------------------------------------------------------------------

    def try_lease(self, name: str, holder: str, now: datetime, expires_at: datetime,
                  contact: str | None = None) -> bool:
        """Take or renew lease ``name`` for ``holder`` if free, expired or already ours."""
        values = {"holder": holder, "expires_at": expires_at, "contact": contact}
        with self.engine.begin() as conn:
            done = conn.execute(update(_lease).where(and_(
                _lease.c.name == name, (_lease.c.holder == holder) | (_lease.c.expires_at < now)))
                .values(**values))
            if done.rowcount == 1:
                return True
            if conn.execute(select(_lease.c.name).where(_lease.c.name == name)).first() is not None:
                return False
            try:
                with conn.begin_nested():
                    conn.execute(insert(_lease).values(name=name, **values))
            except IntegrityError:
                return False
            return True

    def release_lease(self, name: str, holder: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(_lease).where(and_(_lease.c.name == name, _lease.c.holder == holder)))

    def contact_of(self, holder: str) -> str | None:
        """The contact ``holder`` published with its heartbeat (kept after it expired)."""
        query = select(_lease.c.contact).where(_lease.c.name == f"instance:{holder}")
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def live_holders(self, prefix: str, now: datetime) -> set[str]:
        query = select(_lease.c.holder).where(and_(_lease.c.name.like(f"{prefix}%"), _lease.c.expires_at >= now))
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

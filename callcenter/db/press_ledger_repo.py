"""``PressRecords`` in the database: the press ledger's entries in table ``press_ledger``, one row per
(kind, key), overwritten on each change. SQLite and PostgreSQL both upsert natively."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from callcenter.db.incident_tables import PressLedgerRow
from callcenter.domain.sources import SourceRecord
from callcenter.service.ports import LedgerSnapshot

__all__ = ["SqlPressRecords"]

_t = PressLedgerRow.__table__  # type: ignore[attr-defined]
LINE, CLOSE, SOURCE = "line", "close", "source"


class SqlPressRecords:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def load(self, since: datetime) -> LedgerSnapshot:
        with self._engine.begin() as conn:
            conn.execute(delete(_t).where(_t.c.updated_at < since))
            rows = conn.execute(select(_t.c.kind, _t.c.key, _t.c.data)).all()
        lines = {r.key: _times(r.data["presses"]) for r in rows if r.kind == LINE}
        closes = {r.key: (r.data["incident"], datetime.fromisoformat(r.data["at"])) for r in rows if r.kind == CLOSE}
        sources = {r.key: source_from_json(r.key, r.data) for r in rows if r.kind == SOURCE}
        return LedgerSnapshot(lines, closes, sources)

    def save_line(self, line: str, presses: tuple[datetime, ...], now: datetime) -> None:
        self._put(LINE, line, {"presses": [t.isoformat() for t in presses]}, now)

    def save_close(self, open_key: str, incident_id: str, closed_at: datetime) -> None:
        self._put(CLOSE, open_key, {"incident": incident_id, "at": closed_at.isoformat()}, closed_at)

    def save_source(self, record: SourceRecord, now: datetime) -> None:
        self._put(SOURCE, record.source, source_to_json(record), now)

    def sources(self) -> list[SourceRecord]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(_t.c.key, _t.c.data).where(_t.c.kind == SOURCE)).all()
        return [source_from_json(r.key, r.data) for r in rows]

    def _put(self, kind: str, key: str, data: dict[str, Any], now: datetime) -> None:
        statement = self._insert(_t).values(kind=kind, key=key[:80], data=data, updated_at=now)
        statement = statement.on_conflict_do_update(index_elements=[_t.c.kind, _t.c.key],
                                                    set_={"data": data, "updated_at": now})
        with self._engine.begin() as conn:
            conn.execute(statement)


def source_to_json(record: SourceRecord) -> dict[str, Any]:
    return {
        "recent": [t.isoformat() for t in record.recent],
        "banned_until": _iso(record.banned_until), "banned_at": _iso(record.banned_at),
        "presses_while_banned": record.presses_while_banned, "lines": list(record.lines),
        "incidents": list(record.incidents), "last_at": _iso(record.last_at),
    }


def source_from_json(source: str, data: dict[str, Any]) -> SourceRecord:
    return SourceRecord(
        source, recent=_times(data.get("recent", [])), banned_until=_time(data.get("banned_until")),
        banned_at=_time(data.get("banned_at")), presses_while_banned=int(data.get("presses_while_banned", 0)),
        lines=tuple(data.get("lines", [])), incidents=tuple(data.get("incidents", [])),
        last_at=_time(data.get("last_at")))


def _times(items: list[str]) -> tuple[datetime, ...]:
    return tuple(datetime.fromisoformat(t) for t in items)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None

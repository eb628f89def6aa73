"""SQL storage of accounts, sessions and the audit log."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from callcenter.accounts.roles import AccountError, AccountRole, User
from callcenter.accounts.service import AuditRecord, StoredUser
from callcenter.db.account_tables import AuditEntry, UserAccount, UserSession

__all__ = ["SqlAccounts"]

_user = UserAccount.__table__  # type: ignore[attr-defined]
_session = UserSession.__table__  # type: ignore[attr-defined]
_audit = AuditEntry.__table__  # type: ignore[attr-defined]


def _user_of(row: Any) -> User:
    return User(id=row.id, name=row.name, role=AccountRole(row.role), grid_id=row.grid_id,
                display_name=row.display_name, phone=row.phone, active=row.active)


class SqlAccounts:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add_user(self, user: User, password_hash: str, now: datetime) -> User:
        values = {"name": user.name, "display_name": user.display_name, "role": str(user.role),
                  "grid_id": user.grid_id, "phone": user.phone, "password_hash": password_hash,
                  "active": user.active, "created_at": now}
        try:
            with self.engine.begin() as conn:
                new_id = conn.execute(insert(_user).values(**values).returning(_user.c.id)).scalar_one()
        except IntegrityError as exc:
            raise AccountError(f"cannot add {user.name}: the name is taken or the grid does not exist") from exc
        return replace(user, id=int(new_id))

    def by_name(self, name: str) -> StoredUser | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_user).where(_user.c.name == name)).first()
        return None if row is None else StoredUser(_user_of(row), row.password_hash)

    def by_id(self, user_id: int) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_user).where(_user.c.id == user_id)).first()
        return None if row is None else _user_of(row)

    def all_users(self) -> list[User]:
        with self.engine.connect() as conn:
            return [_user_of(r) for r in conn.execute(select(_user).order_by(_user.c.name))]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(_user)).scalar_one())

    def update_user(self, user_id: int, **values: Any) -> None:
        if not values:  # an empty change changes nothing (and UPDATE needs a SET)
            return
        with self.engine.begin() as conn:
            conn.execute(update(_user).where(_user.c.id == user_id).values(**values))
            if values.get("active") is False or "password_hash" in values or "role" in values:
                conn.execute(delete(_session).where(_session.c.user_id == user_id))

    def add_session(self, token_hash: str, user_id: int, now: datetime, expires_at: datetime, address: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(_session).where(_session.c.expires_at < now))
            conn.execute(insert(_session).values(token_hash=token_hash, user_id=user_id, created_at=now,
                                                 expires_at=expires_at, address=address[:64]))

    def session_user(self, token_hash: str, now: datetime) -> User | None:
        query = (select(_user).join(_session, _session.c.user_id == _user.c.id)
                 .where(_session.c.token_hash == token_hash, _session.c.expires_at > now, _user.c.active))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _user_of(row)

    def drop_session(self, token_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(_session).where(_session.c.token_hash == token_hash))

    def add_audit(self, record: AuditRecord) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(_audit).values(
                at=record.at, user_id=record.user_id, user_name=record.user_name, action=record.action,
                target=record.target[:200], address=record.address[:64], before=record.before, after=record.after))

    def audit_log(self, limit: int = 200, target: str | None = None) -> list[AuditRecord]:
        query = select(_audit).order_by(_audit.c.at.desc(), _audit.c.id.desc()).limit(limit)
        if target:
            query = query.where(_audit.c.target == target)
        with self.engine.connect() as conn:
            return [AuditRecord(r.at, r.user_id, r.user_name, r.action, r.target, r.before, r.after, r.address)
                    for r in conn.execute(query)]

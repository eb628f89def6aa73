"""In-memory account store: the fake behind ``AccountService`` in unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from callcenter.accounts.roles import AccountError, User
from callcenter.accounts.service import AuditRecord, StoredUser

__all__ = ["InMemoryAccounts"]


@dataclass
class InMemoryAccounts:
    users: dict[int, StoredUser] = field(default_factory=dict)
    sessions: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    audit: list[AuditRecord] = field(default_factory=list)

    def add_user(self, user: User, password_hash: str, now: datetime) -> User:
        if self.by_name(user.name) is not None:
            raise AccountError(f"cannot add {user.name}: the name is taken")
        stored = replace(user, id=len(self.users) + 1)
        self.users[stored.id] = StoredUser(stored, password_hash)
        return stored

    def by_name(self, name: str) -> StoredUser | None:
        return next((s for s in self.users.values() if s.user.name == name), None)

    def by_id(self, user_id: int) -> User | None:
        stored = self.users.get(user_id)
        return stored.user if stored else None

    def all_users(self) -> list[User]:
        return sorted((s.user for s in self.users.values()), key=lambda u: u.name)

    def update_user(self, user_id: int, **values: Any) -> None:
        stored = self.users[user_id]
        password_hash = values.pop("password_hash", stored.password_hash)
        self.users[user_id] = StoredUser(replace(stored.user, **values), password_hash)
        if values.get("active") is False or "role" in values or password_hash != stored.password_hash:
            self.sessions = {k: v for k, v in self.sessions.items() if v[0] != user_id}

    def add_session(self, token_hash: str, user_id: int, now: datetime, expires_at: datetime, address: str) -> None:
        self.sessions[token_hash] = (user_id, expires_at)

    def session_user(self, token_hash: str, now: datetime) -> User | None:
        found = self.sessions.get(token_hash)
        if found is None or found[1] <= now:
            return None
        user = self.users[found[0]].user
        return user if user.active else None

    def drop_session(self, token_hash: str) -> None:
        self.sessions.pop(token_hash, None)

    def add_audit(self, record: AuditRecord) -> None:
        self.audit.append(record)

    def audit_log(self, limit: int = 200, target: str | None = None) -> list[AuditRecord]:
        found = [r for r in reversed(self.audit) if target is None or r.target == target]
        return found[:limit]

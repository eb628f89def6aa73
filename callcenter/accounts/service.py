"""Accounts service: create users, log in and out, resolve sessions, write the audit log.

Storage is a port (``AccountStore``); the SQL adapter is ``callcenter.db.account_repo.SqlAccounts``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from callcenter.accounts.passwords import hash_password, needs_rehash, verify_password
from callcenter.accounts.ratelimit import LoginRateLimiter
from callcenter.accounts.roles import AccountError, User, check_new_account, check_password
from callcenter.accounts.tokens import new_session_token, token_digest
from callcenter.service.ports import Clock

__all__ = ["AccountService", "AccountStore", "AuditRecord", "LoginFailed", "LoginRefused", "StoredUser"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredUser:
    user: User
    password_hash: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: datetime
    user_id: int | None
    user_name: str
    action: str
    target: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    address: str = ""


class AccountStore(Protocol):
    def add_user(self, user: User, password_hash: str, now: datetime) -> User: ...
    def by_name(self, name: str) -> StoredUser | None: ...
    def by_id(self, user_id: int) -> User | None: ...
    def all_users(self) -> list[User]: ...
    def update_user(self, user_id: int, **values: Any) -> None: ...
    def add_session(self, token_hash: str, user_id: int, now: datetime, expires_at: datetime,
                    address: str) -> None: ...
    def session_user(self, token_hash: str, now: datetime) -> User | None: ...
    def drop_session(self, token_hash: str) -> None: ...
    def add_audit(self, record: AuditRecord) -> None: ...
    def audit_log(self, limit: int = 200, target: str | None = None) -> list[AuditRecord]: ...


class LoginRefused(Exception):
    """Too many failed logins of this account from this address, or from this address at all; try
    again after ``retry_after``."""

    def __init__(self, retry_after: timedelta) -> None:
        super().__init__(f"too many failed logins; retry in {int(retry_after.total_seconds()) + 1} s")
        self.retry_after = retry_after


class LoginFailed(Exception):
    """Wrong name or password (never says which)."""


@dataclass(frozen=True, slots=True)
class Login:
    token: str
    user: User


class AccountService:
    def __init__(self, store: AccountStore, clock: Clock, limiter: LoginRateLimiter | None = None,
                 session_ttl: timedelta = timedelta(hours=12)) -> None:
        self.store, self.clock = store, clock
        self.limiter = limiter or LoginRateLimiter()
        self.session_ttl = session_ttl

    def add_user(self, name: str, role: str, password: str, grid_id: int | None = None,
                 display_name: str = "", phone: str = "") -> User:
        parsed = check_new_account(name, role, grid_id)
        check_password(password)
        user = User(0, name, parsed, grid_id, display_name or name, phone)
        return self.store.add_user(user, hash_password(password), self.clock.now())

    def login(self, name: str, password: str, address: str) -> Login:
        now = self.clock.now()
        wait = self.limiter.retry_after(name, address, now)
        if wait is not None:
            raise LoginRefused(wait)
        stored = self.store.by_name(name)
        ok = verify_password(stored.password_hash if stored else None, password)
        if stored is None or not ok or not stored.user.active:
            self.limiter.failed(name, address, now)
            self.audit(None, "login_failed", f"user:{name}", address=address)
            raise LoginFailed("wrong name or password")
        self.limiter.succeeded(name, address)
        if needs_rehash(stored.password_hash):
            self.store.update_user(stored.user.id, password_hash=hash_password(password))
        token = new_session_token()
        self.store.add_session(token_digest(token), stored.user.id, now, now + self.session_ttl, address)
        self.audit(stored.user, "login", f"user:{name}", address=address)
        return Login(token, stored.user)

    def user_for_session(self, token: str | None) -> User | None:
        if not token:
            return None
        return self.store.session_user(token_digest(token), self.clock.now())

    def logout(self, token: str, user: User, address: str = "") -> None:
        self.store.drop_session(token_digest(token))
        self.audit(user, "logout", f"user:{user.name}", address=address)

    def set_password(self, user_id: int, password: str) -> None:
        check_password(password)
        self.store.update_user(user_id, password_hash=hash_password(password))

    def update(self, actor: User, user_id: int, address: str = "", **changes: Any) -> User:
        before = self.store.by_id(user_id)
        if before is None:
            raise AccountError(f"no user {user_id}")
        after = replace(before, **changes)
        check_new_account(after.name, str(after.role), after.grid_id)
        self.store.update_user(user_id, **{k: str(v) if k == "role" else v for k, v in changes.items()})
        self.audit(actor, "account_changed", f"user:{before.name}", _public(before), _public(after), address)
        return after

    def audit(self, user: User | None, action: str, target: str, before: dict[str, Any] | None = None,
              after: dict[str, Any] | None = None, address: str = "") -> None:
        record = AuditRecord(self.clock.now(), user.id if user else None, user.name if user else "-", action,
                             target, before or {}, after or {}, address)
        try:
            self.store.add_audit(record)
        except Exception:
            # The action itself is done; losing its audit line must be loud but must not undo it.
            log.exception("audit record lost: %s %s by %s", action, target, record.user_name)


def _public(user: User) -> dict[str, Any]:
    return {"name": user.name, "role": str(user.role), "grid_id": user.grid_id, "active": user.active,
            "display_name": user.display_name}

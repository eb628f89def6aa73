"""One contract for both account stores: the in-memory fake and SQL (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from callcenter.accounts.memory import InMemoryAccounts
from callcenter.accounts.roles import AccountError, AccountRole, User
from callcenter.accounts.service import AccountStore, AuditRecord
from callcenter.db.account_repo import SqlAccounts
from callcenter.db.engine import make_engine, migrate

NOW = datetime(2026, 3, 14, 1, 30, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Iterator[AccountStore]:
    if request.param == "memory":
        yield InMemoryAccounts()
        return
    url = request.getfixturevalue(f"{request.param}_url")
    migrate(url)
    engine = make_engine(url)
    yield SqlAccounts(engine)
    engine.dispose()


def _user(name: str, role: AccountRole = AccountRole.OPERATOR) -> User:
    return User(0, name, role, None, name.title(), "+8613900000001")


def test_users_are_added_found_and_unique(store: AccountStore) -> None:
    added = store.add_user(_user("wang"), "hash-1", NOW)
    assert added.id > 0 and added.name == "wang"
    found = store.by_name("wang")
    assert found is not None and (found.user, found.password_hash) == (added, "hash-1")
    assert store.by_id(added.id) == added
    assert store.by_name("nobody") is None
    with pytest.raises(AccountError):
        store.add_user(_user("wang"), "hash-2", NOW)
    store.add_user(_user("an"), "hash-3", NOW)
    assert [u.name for u in store.all_users()] == ["an", "wang"]


def test_sessions_expire_and_end_with_a_disabled_account(store: AccountStore) -> None:
    user = store.add_user(_user("li"), "h", NOW)
    store.add_session("t1", user.id, NOW, NOW + timedelta(hours=1), "10.0.0.1")
    store.add_session("t2", user.id, NOW, NOW + timedelta(hours=1), "10.0.0.1")
    assert store.session_user("t1", NOW + timedelta(minutes=59)) == user
    assert store.session_user("t1", NOW + timedelta(hours=1)) is None
    store.drop_session("t1")
    assert store.session_user("t1", NOW) is None
    store.update_user(user.id, active=False)
    assert store.session_user("t2", NOW) is None
    assert store.by_id(user.id) == User(user.id, "li", AccountRole.OPERATOR, None, "Li", "+8613900000001", False)


def test_audit_log_newest_first_and_by_target(store: AccountStore) -> None:
    for n, target in enumerate(("incident:a", "incident:b", "incident:a")):
        store.add_audit(AuditRecord(NOW + timedelta(seconds=n), 1, "wang", f"action{n}", target,
                                    {"status": "alerting"}, {"status": "resolved"}, "10.0.0.1"))
    assert [r.action for r in store.audit_log()] == ["action2", "action1", "action0"]
    only_a = store.audit_log(target="incident:a")
    assert [r.action for r in only_a] == ["action2", "action0"]
    assert (only_a[0].before, only_a[0].after, only_a[0].at) == ({"status": "alerting"}, {"status": "resolved"},
                                                                  NOW + timedelta(seconds=2))
    assert len(store.audit_log(limit=1)) == 1

"""Roles and permissions: who may do what, and a grid worker's single grid."""

from __future__ import annotations

import pytest

from callcenter.accounts.roles import AccountError, AccountRole, Permission, User, check_new_account, check_password


def user(role: AccountRole, grid: int | None = None, active: bool = True) -> User:
    return User(1, "someone", role, grid, active=active)


@pytest.mark.parametrize(("role", "allowed"), [
    (AccountRole.OPERATOR, {Permission.VIEW_INCIDENTS, Permission.ACT_ON_INCIDENTS, Permission.VIEW_DIRECTORY,
                            Permission.EDIT_DIRECTORY, Permission.GUARD_EDGE}),
    (AccountRole.GRID_WORKER, {Permission.VIEW_INCIDENTS, Permission.ACT_ON_INCIDENTS, Permission.VIEW_DIRECTORY,
                               Permission.EDIT_DIRECTORY}),
    (AccountRole.SUPERVISOR, {Permission.VIEW_INCIDENTS, Permission.ACT_ON_INCIDENTS, Permission.VIEW_DIRECTORY,
                              Permission.EDIT_DIRECTORY, Permission.VIEW_STATISTICS, Permission.VIEW_AUDIT,
                              Permission.GUARD_EDGE}),
    (AccountRole.ADMIN, set(Permission)),
])
def test_permissions_of_each_role(role: AccountRole, allowed: set[Permission]) -> None:
    u = user(role, 3 if role is AccountRole.GRID_WORKER else None)
    assert {p for p in Permission if u.can(p)} == allowed


def test_a_disabled_account_may_do_nothing() -> None:
    assert not any(user(AccountRole.ADMIN, active=False).can(p) for p in Permission)


def test_grid_worker_sees_only_their_grid() -> None:
    worker = user(AccountRole.GRID_WORKER, 3)
    assert worker.grid_scope == 3
    assert worker.sees_grid(3)
    assert not worker.sees_grid(4)
    assert not worker.sees_grid(None)  # an unknown caller belongs to no grid: the centre handles it


def test_district_roles_see_every_grid_and_unknown_callers() -> None:
    for role in (AccountRole.OPERATOR, AccountRole.SUPERVISOR, AccountRole.ADMIN):
        assert user(role).grid_scope is None
        assert user(role).sees_grid(4) and user(role).sees_grid(None)


@pytest.mark.parametrize(("name", "role", "grid", "message"), [
    ("", "operator", None, "user name"),
    ("bad name", "operator", None, "user name"),
    ("ok", "chief", None, "unknown role 'chief'"),
    ("ok", "grid_worker", None, "needs --grid"),
    ("ok", "operator", 3, "only grid workers"),
])
def test_new_accounts_are_checked(name: str, role: str, grid: int | None, message: str) -> None:
    with pytest.raises(AccountError, match=message):
        check_new_account(name, role, grid)


def test_valid_new_account() -> None:
    assert check_new_account("liu.wei-2", "grid_worker", 3) is AccountRole.GRID_WORKER


def test_short_passwords_are_refused() -> None:
    with pytest.raises(AccountError, match="at least 10"):
        check_password("short")
    check_password("long enough password")

"""Roles and permissions: pure rules, no I/O.

A grid worker is bound to one grid and sees and acts only on incidents and households of that grid;
every other role sees the whole district.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ROLE_LABELS",
    "ROLE_PERMISSIONS",
    "AccountError",
    "AccountRole",
    "Permission",
    "User",
    "check_new_account",
    "check_password",
]


class AccountRole(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    GRID_WORKER = "grid_worker"
    ADMIN = "admin"


class Permission(StrEnum):
    VIEW_INCIDENTS = "view_incidents"
    ACT_ON_INCIDENTS = "act_on_incidents"
    VIEW_DIRECTORY = "view_directory"
    EDIT_DIRECTORY = "edit_directory"
    VIEW_STATISTICS = "view_statistics"
    VIEW_AUDIT = "view_audit"
    MANAGE_ACCOUNTS = "manage_accounts"
    GUARD_EDGE = "guard_edge"  # see and lift the bans on sources of forged presses (the whole service's)


_ALL = frozenset(Permission)
_WORK = frozenset({Permission.VIEW_INCIDENTS, Permission.ACT_ON_INCIDENTS, Permission.VIEW_DIRECTORY,
                   Permission.EDIT_DIRECTORY})

ROLE_PERMISSIONS: dict[AccountRole, frozenset[Permission]] = {
    AccountRole.OPERATOR: _WORK | {Permission.GUARD_EDGE},
    AccountRole.GRID_WORKER: _WORK,  # one grid's incidents: a ban names lines of every grid
    AccountRole.SUPERVISOR: _WORK | {Permission.VIEW_STATISTICS, Permission.VIEW_AUDIT, Permission.GUARD_EDGE},
    AccountRole.ADMIN: _ALL,
}

ROLE_LABELS: dict[AccountRole, tuple[str, str]] = {
    AccountRole.OPERATOR: ("接警员", "Operator"),
    AccountRole.SUPERVISOR: ("值班长", "Supervisor"),
    AccountRole.GRID_WORKER: ("网格员", "Grid worker"),
    AccountRole.ADMIN: ("管理员", "Administrator"),
}


class AccountError(ValueError):
    """An account that cannot be created or changed as asked (bad name, role, grid or password)."""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: AccountRole
    grid_id: int | None = None  # grid workers only
    display_name: str = ""
    phone: str = ""  # the operator's own phone: call-backs ring it first
    active: bool = True

    def can(self, permission: Permission) -> bool:
        return self.active and permission in ROLE_PERMISSIONS[self.role]

    @property
    def grid_scope(self) -> int | None:
        """The one grid this user is limited to, or None for the whole district."""
        return self.grid_id if self.role is AccountRole.GRID_WORKER else None

    def sees_grid(self, grid_id: int | None) -> bool:
        """Whether an incident or household of ``grid_id`` (None: unknown caller) is visible."""
        scope = self.grid_scope
        return scope is None or (grid_id is not None and grid_id == scope)


def check_new_account(name: str, role: str, grid_id: int | None) -> AccountRole:
    """Validate what `user add` and the admin API receive; returns the role."""
    if not name or len(name) > 64 or not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise AccountError("a user name is 1-64 letters, digits, '.', '_' or '-'")
    try:
        parsed = AccountRole(role)
    except ValueError:
        raise AccountError(f"unknown role {role!r}: one of {', '.join(r.value for r in AccountRole)}") from None
    if parsed is AccountRole.GRID_WORKER and grid_id is None:
        raise AccountError("a grid worker needs --grid: the grid they answer for")
    if parsed is not AccountRole.GRID_WORKER and grid_id is not None:
        raise AccountError("only grid workers are bound to a grid")
    return parsed


MIN_PASSWORD_LENGTH = 10


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")

"""Demo accounts: created only in demo mode, with passwords printed for anyone to read."""

from __future__ import annotations

import logging

from callcenter.accounts.roles import AccountRole, User
from callcenter.accounts.service import AccountService

__all__ = ["DEMO_ACCOUNTS", "demo_password", "ensure_demo_accounts"]

log = logging.getLogger(__name__)
# (name, role, display name, own phone for call-backs)
DEMO_ACCOUNTS: tuple[tuple[str, AccountRole, str, str], ...] = (
    ("operator", AccountRole.OPERATOR, "接警员 小王", "+8613900009951"),
    ("supervisor", AccountRole.SUPERVISOR, "值班长 老李", "+8613900009952"),
    ("grid", AccountRole.GRID_WORKER, "网格员 小刘", "+8613900009953"),
    ("admin", AccountRole.ADMIN, "管理员", "+8613900009954"),
)


def demo_password(name: str) -> str:
    return f"demo-{name}-995"


def ensure_demo_accounts(accounts: AccountService, first_grid_id: int | None) -> list[User]:
    """Create the demo accounts that do not exist yet; returns those created. Loud on purpose."""
    created: list[User] = []
    for name, role, display, phone in DEMO_ACCOUNTS:
        if accounts.store.by_name(name) is not None:
            continue
        if role is AccountRole.GRID_WORKER and first_grid_id is None:
            continue  # no directory yet: no grid to bind the demo grid worker to
        grid = first_grid_id if role is AccountRole.GRID_WORKER else None
        created.append(accounts.add_user(name, str(role), demo_password(name), grid, display, phone))
    if created:
        log.warning("DEMO MODE: created demo accounts %s with publicly known passwords",
                    ", ".join(u.name for u in created))
    return created

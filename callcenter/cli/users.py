"""Account commands: `callcenter user add NAME --role ROLE [--grid GRID]`, `callcenter user list`,
`callcenter user password NAME`, `callcenter user disable NAME`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from callcenter.accounts.roles import AccountError, AccountRole
from callcenter.bootstrap import ConsoleContainer
from callcenter.cli.common import console, fail, state

__all__ = ["add_user", "app", "console_container", "disable_user", "list_users", "set_password"]

app = typer.Typer(help="Operator accounts of the console.", no_args_is_help=True)


@app.command("add")
def add_user(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Sign-in name: letters, digits, '.', '_' or '-'.")],
    role: Annotated[AccountRole, typer.Option(help="operator, supervisor, grid_worker or admin.")],
    grid: Annotated[str | None, typer.Option(help="Grid workers: grid id, or 'village/grid' name.")] = None,
    phone: Annotated[str, typer.Option(help="The user's own phone: call-backs ring it first.")] = "",
    display_name: Annotated[str, typer.Option(help="Name shown in the console and the audit log.")] = "",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Create an account. The password is asked for (twice) unless --password-stdin is given."""
    container = console_container(ctx)
    container.init_db()
    grid_id = _grid_id(ctx, grid) if grid is not None else None
    password = _password(password_stdin)
    try:
        user = container.accounts.add_user(name, str(role), password, grid_id, display_name, phone)
    except AccountError as exc:
        fail(str(exc))
    container.accounts.audit(None, "account_created", f"user:{user.name}", {},
                             {"role": str(user.role), "grid_id": user.grid_id, "via": "cli"})
    where = f" for grid {grid_id}" if grid_id is not None else ""
    console.print(f"user [bold]{user.name}[/bold] created as {user.role}{where}")


@app.command("password")
def set_password(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Sign-in name.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Give an account a new password (asked for twice unless --password-stdin); ends its sessions."""
    accounts = console_container(ctx).accounts
    stored = accounts.store.by_name(name)
    if stored is None:
        fail(f"no user {name!r}")
    try:
        accounts.set_password(stored.user.id, _password(password_stdin))
    except AccountError as exc:
        fail(str(exc))
    accounts.audit(None, "password_set", f"user:{name}", after={"via": "cli"})
    console.print(f"password of [bold]{name}[/bold] changed")


@app.command("disable")
def disable_user(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Sign-in name.")]) -> None:
    """Disable an account: it cannot sign in and its sessions end (kept for the audit log)."""
    accounts = console_container(ctx).accounts
    stored = accounts.store.by_name(name)
    if stored is None:
        fail(f"no user {name!r}")
    accounts.store.update_user(stored.user.id, active=False)
    accounts.audit(None, "account_changed", f"user:{name}", {"active": stored.user.active},
                   {"active": False, "via": "cli"})
    console.print(f"user [bold]{name}[/bold] disabled")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))


@app.command("list")
def list_users(ctx: typer.Context) -> None:
    """Every account with its role and grid."""
    for user in console_container(ctx).accounts.store.all_users():
        flag = "" if user.active else "  (disabled)"
        console.print(f"{user.name:<20} {user.role:<12} grid={user.grid_id or '-'}{flag}", highlight=False)


def console_container(ctx: typer.Context) -> ConsoleContainer:
    container = state(ctx).container
    assert isinstance(container, ConsoleContainer)
    return container


def _grid_id(ctx: typer.Context, grid: str) -> int:
    grids = console_container(ctx).console_queries.grids()
    if grid.isdigit() and any(g.id == int(grid) for g in grids):
        return int(grid)
    matches = [g.id for g in grids if grid in (g.name, f"{g.village}/{g.name}", f"{g.town}/{g.village}/{g.name}")]
    if len(matches) != 1:
        fail(f"grid {grid!r} " + ("is ambiguous: give its id" if matches else "not found"))
    return int(matches[0])



"""The ``callcenter`` command: one entry point, one sub-command per job."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError

from callcenter.cli import demo, directory, incidents, prompts, roster, serve
from callcenter.cli.common import AppState, errors, fail
from callcenter.settings import load_settings

app = typer.Typer(
    name="callcenter",
    help="995 one-key emergency service: directory, alerts and the operators' console.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(roster.app, name="roster")
app.add_typer(incidents.app, name="incidents")
app.add_typer(prompts.app, name="prompts")
app.command("simulate-press")(incidents.simulate_press)
app.command("demo-data")(demo.demo_data)
app.command("init-db")(directory.init_db)
app.command("lookup")(directory.lookup)
app.command("serve")(serve.serve)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML settings file layered over config/callcenter.toml.")
    ] = None,
) -> None:
    try:
        settings = load_settings(config)
    except (FileNotFoundError, ValueError) as exc:
        fail(f"settings: {exc}")
    ctx.obj = AppState(settings)
    ctx.call_on_close(ctx.obj.close)


def main() -> None:
    try:
        app()
    except OperationalError as exc:  # a database that is down or refuses us: one line, not a traceback
        reason = str(exc.orig or exc).strip().splitlines()[0]
        errors.print(f"[red]error:[/red] database unreachable: {reason}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None

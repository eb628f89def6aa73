"""Roster commands (template, import, export)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Household and responder rosters in Excel or CSV.", no_args_is_help=True)

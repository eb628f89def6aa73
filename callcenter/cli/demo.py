"""Demo data command."""

from __future__ import annotations

import typer


def demo_data(ctx: typer.Context) -> None:
    """Generate deterministic synthetic households and responders."""
    raise typer.Exit(1)

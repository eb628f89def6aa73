"""What every sub-command shares: the settings and lazily built components."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

import typer
from rich.console import Console

from callcenter.bootstrap import Container, build
from callcenter.settings import Settings

__all__ = ["AppState", "console", "errors", "fail", "state"]

console = Console()
errors = Console(stderr=True)


@dataclass
class AppState:
    settings: Settings
    _container: Container | None = field(default=None, init=False)

    @property
    def container(self) -> Container:
        if self._container is None:
            self._container = build(self.settings)
        return self._container

    def close(self) -> None:
        if self._container is not None:
            self._container.close()


def state(ctx: typer.Context) -> AppState:
    assert isinstance(ctx.obj, AppState)
    return ctx.obj


def fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)

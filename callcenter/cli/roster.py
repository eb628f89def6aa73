"""Roster commands: write the template, import a grid worker's file, export what is stored.

Problems go to stderr one per line (``sheet 户, row 7, column 一键电话: reason``) followed by a
count; the exit code is then 1 and the database is exactly as it was.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from callcenter.cli.common import AppState, fail, state
from callcenter.db.roster_store import RosterStore
from contacts.errors import RosterError, RosterProblem
from contacts.roster import (
    WRITERS,
    ImportSummary,
    Roster,
    Rules,
    read_roster,
    roster_bytes,
    template_roster,
    too_large,
)

__all__ = [
    "LARGE_FILE_BYTES",
    "MAX_PROBLEMS_SHOWN",
    "FileArgument",
    "ForceOption",
    "app",
    "export",
    "import_roster",
    "template",
]

app = typer.Typer(help="Household and responder rosters in Excel or CSV.", no_args_is_help=True)

MAX_PROBLEMS_SHOWN = 200  # a systematic mistake in a district file would otherwise print 100,000 lines
LARGE_FILE_BYTES = 1_000_000  # about 5,000 rows: worth a progress bar even when not on a terminal

FileArgument = Annotated[Path, typer.Argument(help="Roster file: .xlsx, or .csv (UTF-8 or GB18030).")]
ForceOption = Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")]


@app.command("template")
def template(file: FileArgument, force: ForceOption = False) -> None:
    """Write an empty roster with instructions and one example row per sheet."""
    _write(file, template_roster(), force)
    typer.echo(f"template written: {file} (delete the example rows before importing)")


@app.command("import")
def import_roster(
    ctx: typer.Context,
    file: FileArgument,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check everything, write nothing.")] = False,
) -> None:
    """Check every row, then add or update the households and responders in one transaction.

    Nothing is deleted: households missing from the file stay as they are.
    """
    app_state = state(ctx)
    limit = app_state.settings.directory.max_roster_bytes
    data = _read(file, limit)
    store = _store(app_state)
    rules = Rules(store.policy, store.max_group_responders)
    try:
        with _progress(len(data)) as bar:
            roster = read_roster(file.name, data, rules, bar.checked, limit)
            summary = store.apply(roster, dry_run=dry_run, progress=bar.written)
    except RosterError as exc:
        _report(exc.problems)
        raise typer.Exit(1) from None
    _print_summary(summary)


@app.command("export")
def export(ctx: typer.Context, file: FileArgument, force: ForceOption = False) -> None:
    """Write every stored household and responder in the template's layout (.xlsx or .csv)."""
    roster = _store(state(ctx)).load()
    _write(file, roster, force)
    typer.echo(f"exported {len(roster.households)} households and {len(roster.responders)} responders to {file}")


def _store(app_state: AppState) -> RosterStore:
    container = app_state.container
    container.init_db()
    directory = app_state.settings.directory
    return RosterStore(container.engine, directory.phone_policy(), directory.max_group_responders)


def _read(file: Path, limit: int) -> bytes:
    """The file's bytes; one too large is refused before it is read into memory."""
    try:
        size = file.stat().st_size
        if size > limit:
            _report([too_large(size, limit)])
            raise typer.Exit(1)
        return file.read_bytes()
    except OSError as exc:
        _report([RosterProblem(0, "", f"cannot read {file}: {exc.strerror}")])
        raise typer.Exit(1) from None


def _write(file: Path, roster: Roster, force: bool) -> None:
    if file.suffix.lower() not in WRITERS:
        fail(f"{file}: unknown file type {file.suffix or '(none)'}; use .xlsx or .csv")
    if file.exists() and not force:
        fail(f"{file} exists; add --force to overwrite it")
    file.write_bytes(roster_bytes(file.name, roster))


def _report(problems: list[RosterProblem]) -> None:
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        typer.echo(_line(problem), err=True)
    hidden = len(problems) - MAX_PROBLEMS_SHOWN
    if hidden > 0:
        typer.echo(f"… and {hidden} more", err=True)
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    typer.echo(f"{count}; nothing was imported.", err=True)


def _line(problem: RosterProblem) -> str:
    # A problem of the whole file has no row; RosterProblem subclasses say so in their own str().
    return str(problem) if problem.row else f"file: {problem.reason}"


def _print_summary(s: ImportSummary) -> None:
    verbs = ("to add", "to update", "unchanged") if s.dry_run else ("added", "updated", "unchanged")
    if s.dry_run:
        typer.echo("dry run: nothing was written; importing the file would give")
    counts = {
        "households": (s.households_added, s.households_updated, s.households_unchanged),
        "responders": (s.responders_added, s.responders_updated, s.responders_unchanged),
    }
    for what, numbers in counts.items():
        typer.echo(f"{what}: " + ", ".join(f"{n} {verb}" for n, verb in zip(numbers, verbs, strict=True)))
    typer.echo(f"places {verbs[0]}: {s.places_added} (towns, villages, grids and joint-defense groups)")


class _Bar:
    """Progress callbacks for reading and writing; silent when there is no bar to draw."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._checking = progress.add_task("checking rows", total=None) if progress else None
        self._writing = progress.add_task("writing", total=None, visible=False) if progress else None

    def checked(self, rows: int) -> None:
        if self._progress is not None and self._checking is not None:
            self._progress.advance(self._checking, rows)

    def written(self, done: int, total: int) -> None:
        if self._progress is not None and self._writing is not None:
            self._progress.update(self._writing, completed=done, total=total, visible=True)


@contextmanager
def _progress(size: int) -> Iterator[_Bar]:
    if not (sys.stderr.isatty() or size > LARGE_FILE_BYTES):
        yield _Bar(None)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        yield _Bar(progress)

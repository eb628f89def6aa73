"""``callcenter demo-data``: load a deterministic synthetic directory through the roster store.

The same seed gives the same roster, and the store's upsert makes a second run change nothing,
so the command is safe to repeat. It refuses to run in production mode.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from callcenter.cli.common import console, errors, fail, state
from callcenter.db.roster_store import RosterStore
from contacts.demo import DEFAULT_SEED, SCALES, DemoScale, generate_roster, scale_for_households, showcase
from contacts.errors import RosterError
from contacts.model import CARE_FLAG_LABELS, CareFlag
from contacts.roster import ImportSummary, Roster
from contacts.roster.writing import plain_phone

__all__ = [
    "MAX_PROBLEMS_SHOWN",
    "ExtensionOption",
    "HouseholdsOption",
    "ScaleName",
    "ScaleOption",
    "SeedOption",
    "demo_data",
]

MAX_PROBLEMS_SHOWN = 20


class ScaleName(StrEnum):
    VILLAGE = "village"
    DISTRICT = "district"


ScaleOption = Annotated[
    ScaleName,
    typer.Option(
        "--scale",
        help="village: one village, 4 grids, ~400 households. district: Yiling-sized, ~125,000 households.",
    ),
]
HouseholdsOption = Annotated[
    int | None,
    typer.Option(
        "--households", min=1, help="Exactly N households in the district's proportions (instead of --scale)."
    ),
]
SeedOption = Annotated[int, typer.Option("--seed", help="Same seed, same roster.")]
ExtensionOption = Annotated[
    float | None,
    typer.Option(
        "--extension-share", min=0.0, max=1.0,
        help="Share of households, from the first group on, on PBX extensions (2001…, responders 3001…). "
        "Default: 0.1 for the village, none otherwise.",
    ),
]


def demo_data(
    ctx: typer.Context,
    scale: ScaleOption = ScaleName.VILLAGE,
    households: HouseholdsOption = None,
    seed: SeedOption = DEFAULT_SEED,
    extension_share: ExtensionOption = None,
) -> None:
    """Generate deterministic synthetic households and responders and load them (idempotent)."""
    app_state = state(ctx)
    if app_state.settings.mode == "production":
        fail("demo data is refused in production mode: it would mix made-up people into a real directory")
    chosen = _scale(scale, households, extension_share)
    directory = app_state.settings.directory
    started = time.perf_counter()
    with console.status(f"generating the {chosen.name} roster (seed {seed}) …"):
        roster = generate_roster(chosen, seed, directory.max_group_responders)
    generated = time.perf_counter() - started
    container = app_state.container
    container.init_db()
    store = RosterStore(container.engine, directory.phone_policy(), directory.max_group_responders)
    summary = _apply(store, roster)
    _print_summary(roster, summary, generated, time.perf_counter() - started - generated)
    _print_examples(roster)


def _scale(name: ScaleName, households: int | None, extension_share: float | None) -> DemoScale:
    if households is not None:
        return scale_for_households(households, extension_share or 0.0)
    scale = SCALES[name.value]
    if extension_share is None:
        return scale
    return DemoScale(scale.name, scale.towns, scale.villages, scale.grids, scale.households, extension_share)


def _apply(store: RosterStore, roster: Roster) -> ImportSummary:
    try:
        with _progress() as written:
            return store.apply(roster, progress=written)
    except RosterError as exc:
        # Only possible against a directory that already holds other data (e.g. a line taken).
        for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
            errors.print(str(problem), highlight=False, soft_wrap=True)
        fail(f"{len(exc.problems)} conflicts with the stored directory; nothing was loaded")


@contextmanager
def _progress() -> Iterator[Callable[[int, int], None]]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("checking against the stored directory", total=None)

        def written(done: int, total: int) -> None:
            bar.update(task, description="writing rows", completed=done, total=total)

        yield written


def _print_summary(roster: Roster, s: ImportSummary, generated: float, loaded: float) -> None:
    towns, villages, grids, groups = (len({h.group_path[:depth] for h in roster.households}) for depth in range(1, 5))
    console.print(f"roster: {towns:,} towns, {villages:,} villages, {grids:,} grids, {groups:,} groups")
    people = f"{len(roster.households):,} households, {len(roster.responders):,} responders above the groups"
    console.print(f"        {people}")
    console.print(
        f"households: {s.households_added:,} added, {s.households_updated:,} updated, "
        f"{s.households_unchanged:,} unchanged"
    )
    console.print(
        f"responders: {s.responders_added:,} added, {s.responders_updated:,} updated, "
        f"{s.responders_unchanged:,} unchanged; places added: {s.places_added:,}"
    )
    console.print(f"generated in {generated:.1f} s, loaded in {loaded:.1f} s")


def _print_examples(roster: Roster) -> None:
    console.print("[bold]try these emergency lines:[/bold]")
    for household in showcase(roster):
        flags = "、".join(CARE_FLAG_LABELS[f] for f in CareFlag if f in household.care_flags)
        about = f"# {household.head} {household.grid}{household.group} {flags}".rstrip()
        console.print(f"  callcenter lookup {plain_phone(household.lines[0]):<13} {about}", highlight=False)

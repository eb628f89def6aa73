"""Console live-update latency: key press → the incident's row in the operator's queue (Chromium).

Loads the demo village into a scratch SQLite database, serves the console, signs in in headless
Chromium and presses keys of demo households one after another; each sample is the time from
calling the engine's ``key_press`` to the row being in the page (the press's own storage included).
The issue's target is 1 s. ``--screenshots DIR`` also saves the queue, an incident page and the
statistics page.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from playwright.sync_api import Page, sync_playwright
from sqlalchemy import text

from bench.common import ROOT, Latency, machine
from bench.web import CHROMIUM, CHROMIUM_ARGS, served
from callcenter.accounts.demo import demo_password, ensure_demo_accounts
from callcenter.api.app import create_app
from callcenter.bootstrap import ConsoleContainer, build
from callcenter.domain.types import CallerTrust
from callcenter.settings import load_settings

TARGET_MS = 1000.0


def _load_demo(url: str, data_dir: Path) -> None:
    env = {"CALLCENTER_DATABASE_URL": url, "CALLCENTER_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
    subprocess.run([str(ROOT / ".venv/bin/callcenter"), "demo-data", "--scale", "village"], env=env, check=True,
                   capture_output=True, timeout=600)


def _lines(container: ConsoleContainer, count: int) -> list[str]:
    query = text("SELECT MIN(number) FROM emergency_line GROUP BY household_id ORDER BY household_id LIMIT :n")
    with container.engine.connect() as conn:
        return [str(n) for n in conn.execute(query, {"n": count}).scalars()]


def _sign_in(page: Page, url: str) -> None:
    page.goto(f"{url}/login")
    page.fill('input[name="name"]', "admin")
    page.fill('input[name="password"]', demo_password("admin"))
    page.click('#login-form button[type="submit"]')
    page.wait_for_selector("#live-status.on", timeout=10_000)


def _measure(page: Page, container: ConsoleContainer, lines: list[str]) -> tuple[list[int], list[int]]:
    """(press alone, press → row) per line."""
    pressed: list[int] = []
    shown: list[int] = []
    for line in lines:
        start = time.perf_counter_ns()
        incident = container.runtime.engine.key_press(line, CallerTrust.LOCAL)
        pressed.append(time.perf_counter_ns() - start)
        page.wait_for_selector(f'tr[data-id="{incident.id}"]', timeout=10_000)
        shown.append(time.perf_counter_ns() - start)
        time.sleep(0.2)  # presses a little apart, as separate households would
    return pressed, shown


def _screenshots(page: Page, url: str, container: ConsoleContainer, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    container.runtime.engine.key_press("13912345678", CallerTrust.LOCAL)  # an unknown caller: highlighted
    time.sleep(6)  # let simulated neighbours ring, answer and press 1
    page.goto(f"{url}/")
    page.wait_for_selector("#queue-body tr", timeout=10_000)
    page.screenshot(path=str(directory / "console-queue.png"), full_page=True)
    page.click("#queue-body tr:not(.attention) a.open-incident")
    page.wait_for_selector("#responders-body tr", timeout=10_000)
    page.screenshot(path=str(directory / "console-incident.png"), full_page=True)
    page.goto(f"{url}/statistics")
    page.screenshot(path=str(directory / "console-statistics.png"), full_page=True)


def run(presses: int, screenshots: Path | None) -> tuple[Latency, Latency]:
    # Simulated neighbours may still answer (and spool) while the directory goes.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as scratch:
        url = f"sqlite:///{scratch}/bench.db"
        _load_demo(url, Path(scratch))
        container = build(load_settings(database_url=url, data_dir=Path(scratch)))
        container.init_db()
        ensure_demo_accounts(container.accounts, container.console_queries.grids()[0].id)
        container.runtime.start()
        try:
            with served(create_app(container)) as base, sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                _sign_in(page, base)
                started = time.perf_counter()
                pressed, shown = _measure(page, container, _lines(container, presses))
                wall = time.perf_counter() - started
                latency = Latency.of(pressed, wall), Latency.of(shown, wall)
                if screenshots is not None:
                    _screenshots(page, base, container, screenshots)
                browser.close()
        finally:
            container.close()
    return latency


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.console_live", description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=30)
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args(argv)
    pressed, shown = run(args.presses, args.screenshots)
    print(f"machine: {machine()}")
    print(f"{'what':<38}{'n':>5}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'target ms':>11}")
    for what, latency, target in (("key_press alone (stored, legs claimed)", pressed, "-"),
                                  ("key press -> row in queue (Chromium)", shown, f"{TARGET_MS:.0f}")):
        print(f"{what:<38}{latency.count:>5}{latency.p50_ms:>10.1f}{latency.p99_ms:>10.1f}{latency.max_ms:>10.1f}"
              f"{target:>11}")


if __name__ == "__main__":
    main()

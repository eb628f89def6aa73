"""Run the HTTP service."""

from __future__ import annotations

import signal
from typing import Annotated

import typer
import uvicorn

from callcenter.accounts.demo import DEMO_ACCOUNTS, demo_password, ensure_demo_accounts
from callcenter.api.app import create_app
from callcenter.bootstrap import ConsoleContainer, Container
from callcenter.cli.common import console, fail, state
from callcenter.heap import settle_after_start_up
from callcenter.logs import configure_logging
from callcenter.production import account_refusals, settings_refusals
from callcenter.stop_signals import StopSignals

__all__ = ["serve"]


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Listen address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default from settings).")] = None,
) -> None:
    """Start the service: incident engine, health endpoint, directory API (OpenAPI docs at /docs in demo mode)."""
    container = state(ctx).container
    settings = container.settings
    configure_logging(settings.log_level)
    if settings.mode == "production":
        _refuse_unready(container)
    stops = StopSignals(_exit_status).install()
    _start(container)
    stops.raise_if_received()  # a stop during start-up is never lost (callcenter/stop_signals.py)
    listen_host, listen_port = host or settings.http.host, port if port is not None else settings.http.port
    docs = "  (API docs at /docs)" if settings.mode == "demo" else ""
    console.print(f"console at http://{listen_host}:{listen_port}/{docs}")
    # Consoles keep event streams open; a stop must not wait for them to end on their own.
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1 by default; who the
    # client is decides callcenter.api.deps.client_address, from http.trusted_proxies only.
    uvicorn.run(create_app(container, on_stop=container.close), host=listen_host, port=listen_port,
                log_level="info", log_config=None,  # uvicorn's loggers go through ours (masked)
                timeout_graceful_shutdown=5, proxy_headers=False)


def _refuse_unready(container: ConsoleContainer | Container) -> None:
    """Production mode does not start with demo leftovers: every problem named with its fix."""
    assert isinstance(container, ConsoleContainer)
    container.init_db()
    problems = settings_refusals(container.settings) + account_refusals(container.accounts.store)
    if problems:
        fail("production mode refuses to start:\n  - " + "\n  - ".join(problems))


def _start(container: ConsoleContainer | Container) -> None:
    settings = container.settings
    container.init_db()
    if settings.mode == "demo":
        console.print("[yellow]DEMO MODE[/yellow]: demo secrets in use; never expose this instance.")
        assert isinstance(container, ConsoleContainer)
        _demo_accounts(container)
    container.runtime.start()  # escalation timers, redials, recovery of anything left from a crash
    settle_after_start_up()
    console.print(f"instance {container.holder}: incident engine running")


def _exit_status(signum: int) -> BaseException:
    """SIGTERM ends the process as SystemExit(143), so the CLI closes the container on the way out;
    SIGINT as Ctrl-C does.

    While the HTTP server runs, uvicorn handles both itself (``on_stop`` closes the container) and
    then re-raises the signal, which lands here too: the usual exit status, nothing left half-stopped.
    """
    return KeyboardInterrupt() if signum == signal.SIGINT else SystemExit(128 + signum)


def _demo_accounts(container: ConsoleContainer) -> None:
    grids = container.console_queries.grids()
    ensure_demo_accounts(container.accounts, grids[0].id if grids else None)
    logins = ", ".join(f"{name} / {demo_password(name)}" for name, *_ in DEMO_ACCOUNTS
                       if container.accounts.store.by_name(name) is not None)
    console.print(f"[bold yellow]DEMO ACCOUNTS[/bold yellow] (publicly known passwords): {logins}")

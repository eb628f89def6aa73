"""The incident engine alone, without HTTP: ``python -m callcenter.standalone``.

Runs the engine runtime (lease, timers, recovery, sweep, auditor) on the configured database and
channels, optionally presses keys first, and runs until killed or ``--seconds`` have passed. It
starts faster than the ``callcenter`` command (no web framework, no roster tooling), which is what
a restart after a crash wants; the process-level crash test runs it again and again.

    python -m callcenter.standalone [--press NUMBER ...] [--seconds S] [--migrate]

Settings come from the environment and ``config/callcenter.toml`` as for every command. Prints
one ``incident <id> <caller>`` line per press, once the incident is stored.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence

from callcenter.bootstrap import build
from callcenter.domain.types import CallerTrust
from callcenter.heap import settle_after_start_up
from callcenter.logs import configure_logging
from callcenter.settings import load_settings
from callcenter.stop_signals import StopSignals

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m callcenter.standalone", description=__doc__.splitlines()[0])
    parser.add_argument("--press", action="append", default=[], metavar="NUMBER", help="press this line's key")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: never)")
    parser.add_argument("--migrate", action="store_true", help="bring the database schema up to date first")
    args = parser.parse_args(argv)
    stops = StopSignals(lambda _signum: KeyboardInterrupt()).install()  # SIGTERM stops as Ctrl-C does
    settings = load_settings()
    configure_logging(settings.log_level)
    container = build(settings)
    try:
        if args.migrate:
            container.init_db()
        runtime = container.runtime
        runtime.start()
        settle_after_start_up()
        stops.raise_if_received()
        _say(f"instance {container.holder} running")
        for number in args.press:
            incident = runtime.engine.key_press(number, CallerTrust.LOCAL)
            _say(f"incident {incident.id} {number}")
        threading.Event().wait(args.seconds)
    except KeyboardInterrupt:
        pass
    finally:
        container.close()
    return 0


def _say(line: str) -> None:
    """One write per line: print() writes the text and its newline apart, and when output is
    unbuffered (PYTHONUNBUFFERED) a log line from another thread could land between the two."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())

"""A fork server for engine processes: imports the service once, then forks one child per request.

A Python start-up with the service's imports takes seconds on a busy 2-core machine; the crash
test restarts the engine twenty times. Each child is a separate process running the service's own
entry point (``callcenter.standalone.main``) with its own environment, database connections and
threads, and dies by ``kill -9`` like any other. Requests are JSON lines on stdin
(``{"args": [...], "env": {...}, "out": path}``); the reply is the child's pid.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from typing import Any

from callcenter.standalone import main  # the expensive imports happen here, once


def serve() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped as they die
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(pid, flush=True)


def _child(request: dict[str, Any]) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    out = os.open(str(request["out"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    sys.stdin.close()
    os.environ.clear()
    os.environ.update(request["env"])
    code = 1
    try:
        code = main(request["args"])
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    serve()

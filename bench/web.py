"""A uvicorn server on a free loopback port in a thread, and headless Debian Chromium, for the
console's browser tests and benchmarks."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--autoplay-policy=no-user-gesture-required"]


@contextmanager
def served(app: FastAPI, start_timeout: float = 15.0) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 at a port the kernel picks; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    # Open event streams would hold a graceful shutdown until they end: cut them after 1 s.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        if not server.started:
            raise RuntimeError("uvicorn did not start")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()

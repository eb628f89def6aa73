"""A PostgreSQL server of one test's own, which the test may stop and start like a real restart.

The shared test server (scripts/postgres.sh) serves every test at once, so it cannot be restarted
under them. This one is a fresh cluster (Debian's ``initdb``) on a free loopback port, trusting
local connections; as root it runs as the ``postgres`` user, since PostgreSQL refuses root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy.engine import URL


def _bin_dir() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if not versions:
        raise RuntimeError("PostgreSQL server binaries are missing: run scripts/postgres.sh (installs postgresql)")
    return versions[-1].parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """``start``, ``stop`` (immediate: the server dies as in a crash or power loss) and ``close``."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="callcenter-pg-"))  # under /tmp: reachable by postgres
        self.data, self.log = self.root / "data", self.root / "server.log"
        self.port = _free_port()
        self._user = "postgres" if os.geteuid() == 0 else ""
        if self._user:
            user = pwd.getpwnam(self._user)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")

    def url(self, database: str = "postgres") -> str:
        return URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=self.port,
                          database=database).render_as_string(hide_password=False)

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "60", "stop")

    def running(self) -> bool:
        found = subprocess.run(self._command("pg_ctl", "-D", str(self.data), "status"), capture_output=True,
                               timeout=30, check=False)
        return found.returncode == 0

    def close(self) -> None:
        if self.data.exists() and self.running():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bin / program), *args]
        return ["runuser", "-u", self._user, "--", *command] if self._user else command

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(self._command(program, *args), capture_output=True, text=True, timeout=120,
                              check=False, cwd=self.root)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}\n{log}")

"""Real SIP peers for tests and benchmarks: Kamailio (config/kamailio/loopback.cfg) and sipp.

Every port is picked free on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
KAMAILIO_SH = ROOT / "scripts" / "kamailio.sh"
HOST = "127.0.0.1"
SHM_EXHAUSTED = "could not allocate shared memory"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def free_udp_range(count: int, attempts: int = 200) -> tuple[int, int]:
    """``count`` consecutive free UDP ports (RTP ranges), probed in a random high region."""
    for _ in range(attempts):
        low = random.randrange(20000, 60000 - count, 2)
        sockets: list[socket.socket] = []
        try:
            for port in range(low, low + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(sock)
                sock.bind((HOST, port))
            return low, low + count - 1
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free UDP ports")


def sip_request(port: int, text: str, timeout: float = 2.0, expect: str = "SIP/2.0 200") -> str:
    """Send one SIP request from a fresh socket and return the first response whose status line matches."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(timeout)
        local = sock.getsockname()[1]
        sock.sendto(text.replace("{local}", str(local)).encode(), (HOST, port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65535).decode(errors="replace")
            except TimeoutError:
                break
            if data.startswith(expect):
                return data
    raise TimeoutError(f"no '{expect}' from 127.0.0.1:{port}")


def options_text(port: int, user: str = "") -> str:
    target = f"{user}@" if user else ""
    return (
        f"OPTIONS sip:{target}{HOST}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {HOST}:{{local}};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
        f"From: <sip:probe@{HOST}:{{local}}>;tag={uuid.uuid4().hex[:8]}\r\n"
        f"To: <sip:{target}{HOST}:{port}>\r\nCall-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\n"
        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )


def register_contact(registrar_port: int, user: str, contact_port: int, expires: int = 600) -> None:
    """Bind ``user`` to a sipp UAS on ``contact_port`` (third-party REGISTER; sipp then only answers)."""
    text = (
        f"REGISTER sip:{HOST} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {HOST}:{{local}};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
        f"From: <sip:{user}@{HOST}>;tag={uuid.uuid4().hex[:8]}\r\nTo: <sip:{user}@{HOST}>\r\n"
        f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 REGISTER\r\n"
        f"Contact: <sip:{user}@{HOST}:{contact_port}>\r\nExpires: {expires}\r\n"
        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    sip_request(registrar_port, text)


@dataclass
class Kamailio:
    """A Kamailio child process on a free loopback port, with its own run dir."""

    run_dir: Path
    port: int = field(default_factory=free_udp_port)
    process: subprocess.Popen[bytes] | None = None
    config: Path | None = None  # None: scripts/kamailio.sh's default, config/kamailio/loopback.cfg
    args: list[str] = field(default_factory=list)  # more kamailio arguments, e.g. -A defines

    def start(self, timeout: float = 15.0) -> Kamailio:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log = (self.run_dir / "kamailio.log").open("ab")
        command = [str(KAMAILIO_SH), str(self.port), str(self.run_dir)]
        if self.config is not None:
            command += [str(self.config), *self.args]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"kamailio exited: {self.log_tail()}")
            try:
                sip_request(self.port, options_text(self.port), timeout=0.3)
                return self
            except TimeoutError:
                continue
        raise RuntimeError(f"kamailio did not answer OPTIONS on {self.port}: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=5)

    def out_of_memory(self) -> int:
        """Log lines where the shared-memory pool ran out: Kamailio then answers INVITEs 500 and
        builds no CANCEL, so a rig that saw any measured Kamailio, not the service."""
        path = self.run_dir / "kamailio.log"
        return path.read_text(errors="replace").count(SHM_EXHAUSTED) if path.exists() else 0

    def log_tail(self, lines: int = 30) -> str:
        path = self.run_dir / "kamailio.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@dataclass
class Sipp:
    """One sipp run of a scenario from tests/sip/scenarios, in the background."""

    scenario: str
    work_dir: Path
    remote_port: int | None = None  # Kamailio for a UAC; None for a UAS
    calls: int = 1
    rate: float = 10.0
    keys: dict[str, str] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_udp_port)
    process: subprocess.Popen[bytes] | None = None
    host: str = HOST  # another loopback address (127.0.0.3 ...) stands for another machine

    def command(self) -> list[str]:
        sipp = shutil.which("sipp") or "/usr/bin/sipp"
        cmd = [
            sipp, "-sf", str(SCENARIOS / f"{self.scenario}.xml"), "-i", self.host, "-p", str(self.port),
            "-mi", self.host, "-mp", str(free_udp_range(4)[0]), "-cp", str(free_udp_port()),
            "-m", str(self.calls), "-r", str(self.rate), "-nostdin", "-trace_err",
            "-error_file", str(self.work_dir / f"{self.scenario}-{self.port}-errors.log"),
            "-s", self.keys.get("service", "995"),
        ]
        for key, value in self.keys.items():
            cmd += ["-key", key, value]
        if self.remote_port is not None:
            cmd.append(f"{HOST}:{self.remote_port}")
        return cmd + self.extra

    def start(self) -> Sipp:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        out = (self.work_dir / f"{self.scenario}-{self.port}.out").open("wb")
        self.process = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, cwd=self.work_dir)
        time.sleep(0.05)
        return self

    def wait(self, timeout: float) -> int:
        """sipp's exit code: 0 when every call succeeded; -9 when it had to be killed."""
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            return -9

    def run(self, timeout: float) -> int:
        return self.start().wait(timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def errors(self) -> str:
        path = self.work_dir / f"{self.scenario}-{self.port}-errors.log"
        out = self.work_dir / f"{self.scenario}-{self.port}.out"
        text = path.read_text(errors="replace")[-3000:] if path.exists() else ""
        return text + (out.read_text(errors="replace")[-1500:] if out.exists() else "")

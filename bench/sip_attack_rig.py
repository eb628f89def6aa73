"""The stack of ``bench.sip_attack`` on loopback: Kamailio running the shipped production.cfg with its
subscriber database, the 995 service as `callcenter serve` in a process of its own, sipp phones, and
the service process's CPU and memory read from /proc.

Loopback addresses stand for machines (as in tests/sip/edge.py): 127.0.0.1 the proxy and the service,
127.0.0.3 the carrier trunk, behind which the neighbours' mobiles answer (one sipp UAS standing for all
of them: it rings, answers, listens 4 s without a key and hangs up), 127.0.0.6 and 127.0.0.7 the genuine
households of the two phases (each line registered with digest at the edge, pressing from the address
and port it registered), 127.0.0.9+ the phones of the neighbours who press 1 (registered with digest),
127.0.1.x the attackers. Every port is picked free; every wait is bounded.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.mass_stack import free_tcp_port, rtp_port_range

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
harness: Any = importlib.import_module("sip.harness")  # the tests' Kamailio and sipp runners
edge: Any = importlib.import_module("sip.edge")  # production.cfg, its database, digest peers

SERVICE_PASSWORD = "bench-service-995"
TRUNK_HOST = edge.TRUNK_HOST
HOUSEHOLD_HOSTS = ("127.0.0.6", "127.0.0.7")  # baseline, attack
PRESSER_HOSTS = ("127.0.0.9", "127.0.0.10", "127.0.0.11", "127.0.0.12")
REGISTRATIONS_PER_SECOND = 6.0  # per source address: pike bans more than 30 requests in 2 s
HOLD_SECONDS = 86_400  # the policy's unverified hold: far longer than a run, so no held incident rings


def subscriber_password(user: str) -> str:
    return f"secret-{user.lstrip('+')}"


def policy_with_long_hold(run_dir: Path) -> Path:
    """config/escalation.yaml with ``unverified_caller.release_after_seconds`` longer than any run."""
    shipped = (ROOT / "config" / "escalation.yaml").read_text()
    changed, count = re.subn(r"(?m)^(\s+release_after_seconds:)\s*\d+", rf"\1 {HOLD_SECONDS}", shipped)
    if count != 1:
        raise RuntimeError("config/escalation.yaml: no unverified_caller.release_after_seconds to lengthen")
    path = run_dir / "escalation.yaml"
    path.write_text(changed)
    return path


# -- the edge and its phones -----------------------------------------------------------------


@dataclass
class Edge:
    """Kamailio (production.cfg) with its SQLite subscriber database, and the phones behind it. Built with
    its port known (callers need it), started by ``start``."""

    run_dir: Path
    database: Any
    kamailio: Any
    phones: list[Any]

    @classmethod
    def build(cls, run_dir: Path, subscribers: Iterable[str], trunk_phone: Any, phones: Iterable[Any]) -> Edge:
        """The database with ``subscribers`` (and 995), the carrier trunk at ``trunk_phone``."""
        database = edge.EdgeDatabase(run_dir / "edge.sqlite").create()
        for user in ("995", *subscribers):
            database.add_subscriber(user, SERVICE_PASSWORD if user == "995" else subscriber_password(user))
        return cls(run_dir, database, edge.edge_kamailio(run_dir / "kamailio", database, trunk_phone.port),
                   [trunk_phone, *phones])

    def start(self) -> Edge:
        for phone in self.phones:
            phone.start()
        self.kamailio.start()
        return self

    def register(self, host: str, users: list[str], contact_port: int) -> None:
        """Bind each of ``users`` to the phone at ``host``:``contact_port`` with digest, paced under pike."""
        peer = edge.SipPeer(host, self.kamailio.port)
        try:
            for user in users:
                started = time.monotonic()
                answer = peer.register(user, subscriber_password(user), contact_port=contact_port, expires=3600)
                if answer is None or answer.code != 200:
                    raise RuntimeError(f"REGISTER {user} from {host}: {answer.code if answer else 'no answer'}; "
                                       f"{self.kamailio.log_tail(5)}")
                time.sleep(max(0.0, 1 / REGISTRATIONS_PER_SECOND - (time.monotonic() - started)))
        finally:
            peer.close()

    def register_all(self, bindings: list[tuple[str, list[str], int]]) -> None:
        """Registrations from several addresses at once (each paced on its own)."""
        errors: list[BaseException] = []

        def one(host: str, users: list[str], port: int) -> None:
            try:
                self.register(host, users, port)
            except BaseException as exc:  # reported below, on the caller's thread
                errors.append(exc)

        threads = [threading.Thread(target=one, args=binding, daemon=True) for binding in bindings if binding[1]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(600)
        if errors:
            raise errors[0]

    def stop(self) -> None:
        for phone in reversed(self.phones):
            phone.stop()
        self.kamailio.stop()


def traced_phone(scenario: str, run_dir: Path, host: str, name: str) -> Any:
    """A sipp UAS on ``host`` answering every call with ``scenario``, tracing every message (and its
    log lines) to ``<name>-messages.log`` / ``<name>-logs.log``."""
    return harness.Sipp(scenario, run_dir, calls=1_000_000, rate=1000, host=host,
                        extra=["-trace_msg", "-message_file", str(run_dir / f"{name}-messages.log"),
                               "-trace_logs", "-log_file", str(run_dir / f"{name}-logs.log"),
                               "-recv_timeout", "600000", "-l", "5000"])


def callers(scenario: str, run_dir: Path, host: str, registrar: int, lines: list[str], seconds: float,
            hold_ms: int) -> Any:
    """sipp pressing 995 from ``host``: one call per line in order, spread evenly over ``seconds``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    inf = run_dir / "lines.csv"
    inf.write_text("SEQUENTIAL\n" + "".join(f"{line};\n" for line in lines))
    extra = ["-inf", str(inf), "-rp", str(max(1, round(seconds * 1000))), "-l", str(max(50, len(lines))),
             "-d", str(hold_ms), "-trace_msg", "-message_file", str(run_dir / "messages.log")]
    return harness.Sipp(scenario, run_dir, remote_port=registrar, calls=len(lines), rate=float(len(lines)),
                        host=host, keys={"service": "995"}, extra=extra)


# -- the service, a process of its own -------------------------------------------------------


@dataclass
class ServiceProcess:
    """`callcenter serve` with the SIP channel, registered at the edge with digest."""

    data_dir: Path
    process: subprocess.Popen[bytes]
    base_url: str

    @classmethod
    def start(cls, data_dir: Path, registrar: int, policy: Path, channels: int, rtp_ports: int,
              timeout: float = 90.0) -> ServiceProcess:
        low, high = rtp_port_range(rtp_ports)
        port = free_tcp_port()
        settings = {
            "DATA_DIR": str(data_dir), "ENGINE__CALL_CHANNEL": "sip", "ENGINE__POLICY_FILE": str(policy),
            "SIP__REGISTRAR_HOST": "127.0.0.1", "SIP__REGISTRAR_PORT": str(registrar),
            "SIP__PASSWORD": SERVICE_PASSWORD, "SIP__SIP_PORT": "0", "SIP__RTP_PORT_LOW": str(low),
            "SIP__RTP_PORT_HIGH": str(high), "SIP__MAX_CHANNELS": str(channels), "HTTP__HOST": "127.0.0.1",
            "HTTP__PORT": str(port), "HTTP__PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        }
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")},
               **{f"CALLCENTER_{key}": value for key, value in settings.items()}}
        with (data_dir / "service.log").open("ab") as log:
            process = subprocess.Popen([str(ROOT / ".venv" / "bin" / "callcenter"), "serve"], env=env, cwd=data_dir,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        service = cls(data_dir, process, f"http://127.0.0.1:{port}")
        service.wait_healthy(timeout)
        return service

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"callcenter serve exited {self.process.returncode}; "
                                   f"see {self.data_dir}/service.log")
            try:
                with urllib.request.urlopen(f"{self.base_url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the service was not healthy (registered) within {timeout:.0f} s; see {self.data_dir}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


# -- /proc of the service process ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcSample:
    at: float  # epoch s
    cpu_s: float  # user + system of the process itself
    children_cpu_s: float  # of its children it waited for (the speech synthesizer's processes)
    rss_mib: float


@dataclass
class ProcWatch:
    """Every ``every`` seconds: the service process's CPU seconds and resident memory, from /proc."""

    pid: int
    every: float = 0.25
    samples: list[ProcSample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ProcWatch:
        self._thread = threading.Thread(target=self._run, daemon=True, name="proc-watch")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def take(self) -> ProcSample | None:
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is fields[0]
        tick = os.sysconf("SC_CLK_TCK")
        rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        return ProcSample(time.time(), (int(fields[11]) + int(fields[12])) / tick,
                          (int(fields[13]) + int(fields[14])) / tick, rss / 1024)

    def mark(self) -> ProcSample:
        sample = self.take()
        if sample is None:
            raise RuntimeError(f"the service process {self.pid} is gone")
        self.samples.append(sample)
        return sample

    def phase(self, start: ProcSample, end: ProcSample) -> dict[str, float]:
        """CPU seconds used and the peak RSS between two marks."""
        inside = [s for s in self.samples if start.at <= s.at <= end.at]
        wall = end.at - start.at
        cpu = end.cpu_s - start.cpu_s
        return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                "children_cpu_s": round(end.children_cpu_s - start.children_cpu_s, 1),
                "cores": round(cpu / wall, 2) if wall > 0 else float("nan"),
                "rss_start_mib": round(start.rss_mib, 1), "rss_peak_mib": round(max(s.rss_mib for s in inside), 1)}

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            sample = self.take()
            if sample is not None:
                self.samples.append(sample)

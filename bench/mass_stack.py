"""The real stack of a mass event, on loopback: Kamailio with the demo's simulated phones, the 995
service in this process (SQLite, SIP channel, console API), and the households pressing.
What watches it from outside is in ``bench/mass_watch.py``.

Used by ``bench/mass_event.py`` and ``tests/integration/test_mass_event.py``. Every port is picked
free; every wait is bounded.
"""

from __future__ import annotations

import importlib
import random
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from callcenter.accounts.demo import ensure_demo_accounts
from callcenter.api.app import create_app
from callcenter.bootstrap import ConsoleContainer, build
from callcenter.domain.types import CallerId
from callcenter.heap import settle_after_start_up
from callcenter.service.ports import LegOrder
from callcenter.service.write_turns import Turn, WriteTurns
from callcenter.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
harness: Any = importlib.import_module("sip.harness")  # the tests' Kamailio and sipp helpers
DEMO_CFG = ROOT / "config" / "kamailio" / "demo.cfg"
# The simulated phone behind Kamailio's port + 1..4, by a number's last digit (config/kamailio/demo.cfg).
DEMO_PHONES: tuple[str, str, str, str] = ("demo_ack", "demo_decline", "demo_busy", "demo_no_answer")
OUTCOME_BY_LAST_DIGIT = {**dict.fromkeys("012345", "acknowledge"), "6": "decline", "7": "decline",
                         "8": "busy", "9": "never answer"}


# -- the household presses -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Press:
    """One key press of the event: the line in the directory's form, the digits the carrier sends."""

    line: str  # E.164 as stored (+86…), or the extension
    dialled: str  # what the household's phone puts in From (national form)
    household_id: int | None  # None: a caller the directory does not know


def national(line: str) -> str:
    """+8613812345678 → 13812345678; +867176123456 → 07176123456; extensions unchanged."""
    if not line.startswith("+86"):
        return line
    rest = line[3:]
    return rest if rest.startswith("1") else "0" + rest


def choose_presses(db: Path, count: int, seed: int, unknown_share: float = 0.05,
                   same_group_share: float = 0.05) -> list[Press]:
    """Distinct households spread over the directory (a few pairs of one joint-defense group pressing
    together), plus callers the directory does not know; in random order."""
    rng = random.Random(seed)
    unknown = round(count * unknown_share)
    known = count - unknown
    pairs = round(known * same_group_share)
    with sqlite3.connect(db) as conn:
        groups = [g for (g,) in conn.execute("SELECT id FROM joint_defense_group")]
        members: dict[int, list[tuple[int, str]]] = {}
        chosen_groups = rng.sample(groups, known - pairs)
        for group in chosen_groups:
            rows = conn.execute("SELECT h.id, MIN(l.number) FROM household h JOIN emergency_line l "
                                "ON l.household_id = h.id WHERE h.group_id = ? GROUP BY h.id", (group,)).fetchall()
            members[group] = [(int(h), str(n)) for h, n in rows]
        presses = []
        for group in chosen_groups:
            household, line = rng.choice(members[group])
            presses.append(Press(line, national(line), household))
        for group in rng.sample(chosen_groups, pairs):  # a neighbour of an earlier press presses too
            taken = {p.household_id for p in presses}
            household, line = rng.choice([m for m in members[group] if m[0] not in taken])
            presses.append(Press(line, national(line), household))
        known_lines = {p.line for p in presses}
        while len(presses) < count:
            line = f"+86170{rng.randrange(10**8):08d}"
            exists = conn.execute("SELECT 1 FROM emergency_line WHERE number = ?", (line,)).fetchone()
            if not exists and line not in known_lines:
                known_lines.add(line)
                presses.append(Press(line, national(line), None))
    rng.shuffle(presses)
    return presses


def is_trace_stamp(line: str) -> bool:
    """The separator sipp's -trace_msg writes before each message: dashes, date, time with microseconds."""
    return line.startswith("-----") and line.count(" ") >= 2


def trace_stamp(line: str) -> float:
    """Epoch seconds of a -trace_msg separator line (local time, microseconds kept)."""
    date, clock = line.split()[-2:]
    whole, _, fraction = clock.partition(".")
    return time.mktime(time.strptime(f"{date} {whole}", "%Y-%m-%d %H:%M:%S")) + float(f"0.{fraction or 0}")


def press_times(message_log: Path) -> dict[str, float]:
    """When each household's INVITE left sipp (epoch s, first transmission), by the From user."""
    sent: dict[str, float] = {}
    stamp: float | None = None
    lines = iter(message_log.read_text(errors="replace").splitlines())
    for line in lines:
        if is_trace_stamp(line):
            stamp = trace_stamp(line)
        elif line.startswith("INVITE ") and stamp is not None:
            for header in lines:
                if header.startswith("From:"):
                    user = header.split("sip:", 1)[1].split("@", 1)[0]
                    sent.setdefault(user, stamp)
                    break
    return sent


# -- Kamailio and the simulated phones -------------------------------------------------------


@dataclass
class DemoSip:
    """Kamailio (demo.cfg) on a free port P, the four simulated phones on P+1..P+4 (by a number's last
    digit; ``phones`` names their sipp scenarios). Each phone's log lines go to ``<scenario>-<port>-logs.log``."""

    run_dir: Path
    phones: tuple[str, str, str, str] = DEMO_PHONES
    port: int = 0
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, timeout: float = 15.0) -> DemoSip:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.port = harness.free_udp_range(5)[0]
        with (self.run_dir / "kamailio.log").open("ab") as log:
            self.processes.append(subprocess.Popen(
                [str(ROOT / "scripts" / "kamailio.sh"), str(self.port), str(self.run_dir), str(DEMO_CFG)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        for index, scenario in enumerate(self.phones, start=1):
            self.processes.append(self._phone(scenario, self.port + index))
        self._wait_ready(timeout)
        return self

    def _phone(self, scenario: str, port: int) -> subprocess.Popen[bytes]:
        media = harness.free_udp_range(4)[0]
        command = ["sipp", "-sf", str(harness.SCENARIOS / f"{scenario}.xml"), "-i", harness.HOST, "-p", str(port),
                   "-mi", harness.HOST, "-mp", str(media), "-cp", str(harness.free_udp_port()), "-nostdin",
                   "-trace_err", "-error_file", str(self.run_dir / f"{scenario}-{port}-errors.log"),
                   "-trace_msg", "-message_file", str(self.run_dir / f"{scenario}-{port}-messages.log"),
                   "-trace_logs", "-log_file", str(self.run_dir / f"{scenario}-{port}-logs.log")]
        with (self.run_dir / f"{scenario}-{port}.out").open("ab") as out:
            return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=self.run_dir)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"Kamailio or a simulated phone exited; see {self.run_dir}")
            try:
                harness.sip_request(self.port, harness.options_text(self.port), timeout=0.3)
                return
            except TimeoutError:
                continue
        raise RuntimeError(f"Kamailio did not answer OPTIONS on {self.port}")

    def registrar_out_of_memory(self) -> int:
        """Kamailio log lines saying its shared memory ran out (it then answers INVITEs 500)."""
        log = self.run_dir / "kamailio.log"
        return log.read_text(errors="replace").count(harness.SHM_EXHAUSTED) if log.exists() else 0

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)


def households_press(run_dir: Path, registrar: int, presses: list[Press], seconds: float,
                     hold_ms: int = 3000) -> harness.Sipp:
    """sipp households: one call per press, spread evenly over ``seconds``, each holding ``hold_ms``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    callers = run_dir / "callers.csv"
    callers.write_text("SEQUENTIAL\n" + "".join(f"{p.dialled};\n" for p in presses))
    period_ms = max(1, round(seconds * 1000))
    extra = ["-inf", str(callers), "-rp", str(period_ms), "-l", str(max(50, len(presses))), "-d", str(hold_ms),
             "-trace_msg", "-message_file", str(run_dir / "households-messages.log")]
    return harness.Sipp("household_press_hold", run_dir, remote_port=registrar, calls=len(presses),
                        rate=float(len(presses)), keys={"service": "995"}, extra=extra).start()


# -- the service, in this process ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A push to or pop from the SIP channel's waiting queue, in the order they happened."""

    at: float  # epoch s
    kind: str  # "push", "pop", or "end" (a popped call is over)
    leg_id: str
    incident_id: str
    priority: tuple[Any, ...]
    calls_up: int  # alert calls up just before this entry (a pop takes one more channel)
    calls_wanted: int = 1  # what the incident wants up at once while others wait (LegOrder.calls_wanted)


class RecordingQueue:
    """The channel's own queue, wrapped: every push and pop recorded under one lock (their true order).

    A wrapper rather than a subclass of the channel's private queue class, so the same bench runs on
    the code before and after a change of it (``--baseline``); a channel without a queue of its own
    is not wrapped (``install`` returns None) and the report says the queue was not recorded."""

    def __init__(self, inner: Any, calls_up: Callable[[], int] = lambda: 0) -> None:
        self.inner = inner
        self.entries: list[QueueEntry] = []
        self.calls_up = calls_up
        self._lock = threading.Lock()

    @classmethod
    def install(cls, channel: Any) -> RecordingQueue | None:
        """Wraps ``channel.queue`` when it is a queue of legs (push, pop, len); None otherwise."""
        inner = getattr(channel, "queue", None)
        if not all(hasattr(inner, name) for name in ("push", "pop", "__len__")):
            return None
        queue = cls(inner, lambda: int(getattr(channel, "active_calls", 0)))
        channel.queue = queue
        return queue

    def push(self, order: LegOrder, ref: str) -> None:
        with self._lock:
            self.inner.push(order, ref)
            self._record("push", order)

    def pop(self) -> tuple[LegOrder, str] | None:
        with self._lock:
            item: tuple[LegOrder, str] | None = self.inner.pop()
            if item is not None:
                self._record("pop", item[0])
            return item

    def ended(self, incident_id: str, **kwargs: Any) -> None:
        """A popped call is over (FairDialQueue counts calls up per incident; older queues do not)."""
        with self._lock:
            ended = getattr(self.inner, "ended", None)
            if ended is not None:
                ended(incident_id, **kwargs)
            self.entries.append(QueueEntry(time.time(), "end", "", incident_id, (), self.calls_up()))

    def __len__(self) -> int:
        return len(self.inner)

    def __getattr__(self, name: str) -> Any:  # anything else the channel asks of its queue
        return getattr(self.inner, name)

    def _record(self, kind: str, order: LegOrder) -> None:
        self.entries.append(QueueEntry(time.time(), kind, order.leg_id, order.incident_id,
                                       tuple(getattr(order, "priority", ())), self.calls_up(),
                                       int(getattr(order, "calls_wanted", 1))))


def rtp_port_range(count: int, attempts: int = 200) -> tuple[int, int]:
    """``count`` consecutive free UDP ports below the kernel's ephemeral range: any process's socket bound
    to port 0 (other test runs on a shared machine) can take a port inside that range, and a call
    whose RTP port was taken meanwhile fails with EADDRINUSE (as the service's default 10000-10999 avoids)."""
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(attempts):
        low = random.randrange(10000, ephemeral_low - count)
        probes: list[socket.socket] = []
        try:
            for port in range(low, low + count):
                probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                probes.append(probe)
                probe.bind((harness.HOST, port))
            return low, low + count - 1
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError(f"no {count} consecutive free UDP ports below {ephemeral_low}")


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class CountedSynthesizer:
    """The prompt library's synthesizer, each run noted: (wall clock at its start, text)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.voice = inner, inner.voice
        self.runs: list[tuple[float, str]] = []

    def synthesize(self, text: str) -> bytes:
        self.runs.append((time.time(), text))
        return bytes(self.inner.synthesize(text))


class TimedTurns(WriteTurns):
    """The engine's write turns, each timed: when it was granted, how long it was held, by what."""

    def __init__(self, slots: int) -> None:
        super().__init__(slots)
        self.held: list[tuple[float, float, float, int, str]] = []  # (granted, waited s, held s, tier, by)

    @contextmanager
    def turn(self, tier: Turn = Turn.COMMAND) -> Iterator[None]:
        caller = sys._getframe(2)  # turn() → contextmanager's __enter__ → the engine's method
        by = f"{caller.f_code.co_name} < {caller.f_back.f_code.co_name if caller.f_back else '?'}"
        asked = time.perf_counter()
        with super().turn(tier):
            granted = time.perf_counter()
            try:
                yield
            finally:
                done = time.perf_counter()
                self.held.append((time.time() - (done - granted), granted - asked, done - granted, int(tier), by))


@dataclass
class Service:
    container: ConsoleContainer
    base_url: str
    queue: RecordingQueue | None  # None: the channel keeps no queue of its own to record
    server: uvicorn.Server
    thread: threading.Thread
    opened: dict[str, tuple[float, float]]  # caller as dialled → (key press began, incident stored), epoch s

    @property
    def db_path(self) -> Path:
        return Path(self.container.settings.data_dir) / "callcenter.db"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.container.close()


def start_service(data_dir: Path, registrar: int, max_channels: int, ring_timeout: float,
                  extra: dict[str, Any] | None = None, rtp_ports: int = 800) -> Service:
    """The service as `callcenter serve` wires it (SQLite in ``data_dir``), in this process."""
    low, high = rtp_port_range(rtp_ports)
    http_port = free_tcp_port()
    options: dict[str, Any] = {
        "engine": {"call_channel": "sip"},
        "sip": {"registrar_port": registrar, "sip_port": 0, "rtp_port_low": low, "rtp_port_high": high,
                "max_channels": max_channels, "ring_timeout": ring_timeout},
        "http": {"host": "127.0.0.1", "port": http_port, "public_base_url": f"http://127.0.0.1:{http_port}"},
    }
    for section, values in (extra or {}).items():
        options[section] = {**options.get(section, {}), **values}
    container = build(load_settings(data_dir=data_dir, **options))
    container.init_db()
    grids = container.console_queries.grids()
    ensure_demo_accounts(container.accounts, grids[0].id if grids else None)
    queue = RecordingQueue.install(container.sip_service.channel)
    turns = TimedTurns(container.runtime.engine.write_turns.slots)
    container.runtime.engine.write_turns = turns
    container.prompt_library.synthesizer = CountedSynthesizer(container.prompt_library.synthesizer)
    opened = time_key_presses(container)
    container.runtime.start()
    if not container.sip_service.phone.wait_registered(15):
        container.close()
        raise RuntimeError("the service did not register at Kamailio")
    server = uvicorn.Server(uvicorn.Config(create_app(container), host="127.0.0.1", port=http_port,
                                           log_level="warning", lifespan="off", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True, name="uvicorn")
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        container.close()
        raise RuntimeError("uvicorn did not start")
    settle_after_start_up()  # as `callcenter serve` does
    return Service(container, f"http://127.0.0.1:{http_port}", queue, server, thread, opened)


def time_key_presses(container: ConsoleContainer) -> dict[str, tuple[float, float]]:
    """Wraps the SIP service's emergency hook: when each press began and when its incident was stored."""
    opened: dict[str, tuple[float, float]] = {}
    sip = container.sip_service
    _ = container.runtime  # wires the hook to the engine first
    hook = sip.on_emergency

    def timed(caller: CallerId) -> object:
        began = time.time()
        try:
            return hook(caller)
        finally:
            opened.setdefault(caller.number, (began, time.time()))

    sip.on_emergency = timed
    return opened

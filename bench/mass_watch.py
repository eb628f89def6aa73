"""What watches a mass event from outside the service: an operator's console (live event stream and
incident list) in a process of its own, as an operator's browser is, and a sampler of the SIP
channel's queue, CPU time and RSS."""

from __future__ import annotations

import contextlib
import gc
import json
import multiprocessing
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

import httpx

from bench.mass_stack import Service
from callcenter.accounts.demo import demo_password

# -- what an operator sees ---------------------------------------------------------------------


@contextmanager
def operator_session(base_url: str, timeout: float = 10.0) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        signed_in = client.post("/api/session", json={"name": "admin", "password": demo_password("admin")})
        signed_in.raise_for_status()
        yield client


REFETCH_DELAY = 0.1  # callcenter/web/static/queue.js: debounced(refresh, 100, 1000)
REFETCH_EVERY = 1.0


@dataclass
class OperatorScreen:
    """An operator's console: the live event stream, and the incident list refetched after each burst
    of events (100 ms after its first event, at most once a second), as the console page does.
    ``listed`` is when an incident was first on screen: its row pushed with its "opened" event, or
    else in a fetched list; ``announced`` when its first live event arrived; ``acknowledged`` when
    each leg's "acknowledged" arrived on the stream (epoch s)."""

    base_url: str
    announced: dict[str, float] = field(default_factory=dict)
    listed: dict[str, float] = field(default_factory=dict)
    acknowledged: dict[str, float] = field(default_factory=dict)
    refetches: int = 0
    pushed: int = 0  # incidents listed from their live event's row
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _dirty: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> OperatorScreen:
        connected = threading.Event()
        for target in (self._stream, self._refetch):
            thread = threading.Thread(target=target, args=(connected,), daemon=True, name=target.__name__)
            thread.start()
            self._threads.append(thread)
        if not connected.wait(10):
            raise RuntimeError(f"the live event stream did not connect: {self.errors}")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._dirty.set()
        for thread in self._threads:
            thread.join(10)

    def _stream(self, connected: threading.Event) -> None:
        try:
            with operator_session(self.base_url, timeout=30) as client, \
                    client.stream("GET", "/api/events", params={"lifetime": 3600}) as stream:
                connected.set()
                for line in stream.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("data: "):
                        event, now = json.loads(line[6:]), time.time()
                        self.announced.setdefault(event["incident_id"], now)
                        if event.get("status") == "acknowledged":
                            self.acknowledged.setdefault(event["leg"], now)
                        if "summary" in event:  # the page puts the pushed row on screen at once
                            self.listed.setdefault(event["incident_id"], now)
                            self.pushed += 1
                        self._dirty.set()
        except Exception as exc:  # reported with the results: a lost stream makes "visible" unknowable
            if not self._stop.is_set():
                self.errors.append(f"event stream: {type(exc).__name__}: {exc}")

    def _refetch(self, connected: threading.Event) -> None:
        connected.wait(10)
        with operator_session(self.base_url, timeout=30) as client:
            last = 0.0
            while not self._stop.is_set():
                if not self._dirty.wait(1.0):
                    continue
                # The console's debounce: 100 ms after a burst's first event, at most once a second.
                time.sleep(max(REFETCH_DELAY, last + REFETCH_EVERY - time.monotonic()))
                last = time.monotonic()
                self._dirty.clear()
                self._fetch(client)

    def _fetch(self, client: httpx.Client) -> None:
        try:
            page = client.get("/api/incidents", params={"open": "true", "order": "newest", "limit": 500})
            page.raise_for_status()
        except httpx.HTTPError as exc:
            self.errors.append(f"incident list: {exc}")
            return
        now = time.time()
        self.refetches += 1
        for item in page.json()["items"]:
            self.listed.setdefault(item["id"], now)


class ScreenProcess:
    """An OperatorScreen run in a child process: its stream parsing and list decoding never compete
    with the service for this process's interpreter lock, and its clock readings never wait for it.
    After ``stop`` it carries the screen's figures (epoch times are comparable across processes)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.announced: dict[str, float] = {}
        self.listed: dict[str, float] = {}
        self.acknowledged: dict[str, float] = {}
        self.refetches = self.pushed = 0
        self.errors: list[str] = []
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None

    def start(self, timeout: float = 30.0) -> ScreenProcess:
        context = multiprocessing.get_context("spawn")  # no copy of the service's threads and sockets
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_watch_screen, args=(self.base_url, child), name="operator-screen",
                                        daemon=True)
        self._process.start()
        if not self._conn.poll(timeout):
            self._process.kill()
            raise RuntimeError("the operator screen process did not start")
        if (ready := self._conn.recv()) != "connected":
            raise RuntimeError(f"the operator screen did not connect: {ready}")
        return self

    def stop(self, timeout: float = 30.0) -> None:
        assert self._conn is not None and self._process is not None
        self._conn.send("stop")
        if self._conn.poll(timeout):
            figures = self._conn.recv()
            self.announced, self.listed = figures["announced"], figures["listed"]
            self.acknowledged = figures["acknowledged"]
            self.refetches, self.pushed, self.errors = figures["refetches"], figures["pushed"], figures["errors"]
        else:
            self.errors.append("the operator screen process gave no figures")
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()


def _watch_screen(base_url: str, conn: Connection) -> None:
    try:
        screen = OperatorScreen(base_url).start()
    except Exception as exc:  # told to the parent, which raises it
        conn.send(f"{type(exc).__name__}: {exc}")
        return
    conn.send("connected")
    conn.recv()  # "stop"
    screen.stop()
    conn.send({"announced": screen.announced, "listed": screen.listed, "acknowledged": screen.acknowledged,
               "refetches": screen.refetches,
               "pushed": screen.pushed, "errors": screen.errors})


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # epoch s
    queued: int  # alert legs waiting in the SIP channel's queue for a trunk channel
    active: int  # alert calls up on the SIP channel
    cpu_s: float  # this process's CPU time so far (user + system)
    rss_mib: float
    waiting: int = 0  # stored legs due and not yet on a phone: pending and due, queued, dialing
    up: int = 0  # stored legs on a phone: ringing, answered
    later: int = 0  # what is still to come: pending legs due later, alerting incidents' next escalations

    @property
    def idle(self) -> bool:
        """No leg waits and no call is up, by the channel and by the database alike."""
        return self.queued == self.active == self.waiting == self.up == 0

    @property
    def settled(self) -> bool:
        """Idle, and nothing planned for later: no redial due, no incident yet to climb a level."""
        return self.idle and self.later == 0


# Leg statuses (alert_leg.status) of a leg waiting for a channel, and of a call up. "queued" is
# handed to the SIP channel but not yet dialled; before it existed, "dialing" covered both.
WAITING_STATUSES = ("queued", "dialing")
UP_STATUSES = ("ringing", "answered")
_LEG_COUNTS = ("SELECT SUM(status IN (?, ?) OR (status = 'pending' AND due_at <= ?)), SUM(status IN (?, ?)), "
               "SUM(status = 'pending' AND due_at > ?) FROM alert_leg WHERE status IN ('pending', ?, ?, ?, ?)")
_CLIMBS = "SELECT COUNT(*) FROM incident WHERE status = 'alerting' AND next_escalation_at IS NOT NULL"


def stored_leg_counts(db: Path) -> tuple[int, int, int]:
    """(legs waiting, calls up, legs and escalations to come) as stored: pending legs wait once due."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLite holds UTC (naive)
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        waiting, up, later = conn.execute(_LEG_COUNTS, (*WAITING_STATUSES, now, *UP_STATUSES, now,
                                                        *WAITING_STATUSES, *UP_STATUSES)).fetchone()
        climbs = conn.execute(_CLIMBS).fetchone()[0]
    return int(waiting or 0), int(up or 0), int(later or 0) + int(climbs or 0)


@dataclass
class Sampler:
    """Once a second: the SIP channel's queue and calls, the legs waiting and up as stored, this
    process's CPU time and RSS."""

    service: Service
    every: float = 1.0
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True, name="sampler")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def take(self) -> Sample:
        channel = self.service.container.sip_service.channel
        times = os.times()
        waiting, up, later = stored_leg_counts(self.service.db_path)
        return Sample(time.time(), len(getattr(channel, "queue", ())), int(getattr(channel, "active_calls", 0)),
                      times.user + times.system, rss_mib(), waiting, up, later)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(self.take())


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class PauseWatch:
    """When the whole process stood still: a thread that sleeps 5 ms and notes how late it woke
    (the interpreter lock held elsewhere, or the machine busy), and every cyclic collection, timed.
    A flood run whose tail of slow presses falls in one second points at one such pause."""

    late_ms: float = 200.0  # wake-ups later than this are noted
    collection_ms: float = 50.0  # collections longer than this are noted
    pauses: list[tuple[float, float]] = field(default_factory=list)  # (wall clock at wake-up, ms late)
    collections: list[tuple[float, int, float]] = field(default_factory=list)  # (wall clock at end, generation, ms)
    _collection_began: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> PauseWatch:
        gc.callbacks.append(self._on_collection)
        self._thread = threading.Thread(target=self._run, daemon=True, name="pause-watch")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)
        if self._thread is not None:
            self._thread.join(5)

    def report(self, since: float) -> dict[str, object]:
        """Offsets in seconds from ``since`` (the first press)."""
        return {
            "pauses_over_ms": self.late_ms,
            "pauses": [[round(at - since, 2), round(ms)] for at, ms in self.pauses],
            "collections_over_ms": self.collection_ms,
            "collections": [[round(at - since, 2), generation, round(ms)] for at, generation, ms in self.collections],
        }

    def _on_collection(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._collection_began = now
            return
        ms = 1000 * (now - self._collection_began)
        if ms > self.collection_ms:
            self.collections.append((time.time(), info["generation"], ms))

    def _run(self) -> None:
        while not self._stop.is_set():
            before = time.perf_counter()
            time.sleep(0.005)
            late = 1000 * (time.perf_counter() - before - 0.005)
            if late > self.late_ms:
                self.pauses.append((time.time(), late))

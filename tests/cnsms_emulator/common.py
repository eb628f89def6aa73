"""What both SMS emulators share: per-number outcome scripts, the control knobs tests turn, the message
record, and the worker that pushes reports and replies to our endpoints.

Outcomes of accepted messages, per number, used in order (the last one repeats):

    delivered            a delivered report is pushed (and the poll answers it)
    undelivered:<code>   a failed report with the carrier's code (MK:0005, MN:0001, …)
    silent               no push; the poll answers delivered (the fallback poll's case)
    lost                 no push and the poll says "waiting" forever
    slow                 the API answers only after ``slow_seconds`` (the SDK gives up), the message is
                         sent all the same and its report pushed: the "maybe accepted" case

Knobs: ``fail_next(n)`` (the next n API requests answer 5xx), ``throttle(number)`` / ``throttle_all``,
``blacklist(number)``, ``stop_reporting`` (no push at all), ``inject_reply(number, text)``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.twilio_emulator.server import ServerThread

OUTCOMES = ("delivered", "silent", "lost", "slow")


def check_outcome(outcome: str) -> None:
    if outcome not in OUTCOMES and not outcome.startswith("undelivered:"):
        raise ValueError(f"unknown outcome {outcome!r}")


@dataclass
class Message:
    """One accepted message, as the provider rendered it."""

    ref: str
    phone: str  # national (11 digits)
    text: str  # 【signature】 and the rendered template
    template: str
    params: Any
    context: str  # Aliyun OutId / Tencent SessionContext
    at: float
    sent_at: float  # wall clock
    outcome: str
    state: str = "waiting"  # waiting → delivered | failed
    code: str = ""
    pulled: bool = False


@dataclass
class Knobs:
    failures: int = 0
    throttle_all: bool = False
    reporting: bool = True
    throttled: set[str] = field(default_factory=set)
    blacklisted: set[str] = field(default_factory=set)


class EmulatorBase:
    def __init__(self, slow_seconds: float, step_seconds: float) -> None:
        self.slow_seconds, self.step_seconds = slow_seconds, step_seconds
        self.knobs = Knobs()
        self.messages: list[Message] = []
        self.requests: list[tuple[str, int]] = []  # (action, HTTP status) of every API request
        self.pushes: list[tuple[str, int]] = []  # (url, HTTP status) of every push to us
        self.errors: list[str] = []  # the error codes answered, in order
        self.report_url = ""
        self.reply_url = ""
        self._scripts: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._workers = ThreadPoolExecutor(8, thread_name_prefix="cnsms-emulator")
        self._http = httpx.Client(timeout=10.0)
        self._server = ServerThread(self.app())

    def app(self) -> Any:
        raise NotImplementedError

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """host:port, as the SDKs take it."""
        return f"127.0.0.1:{self._server.port}"

    def start(self) -> EmulatorBase:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        self._workers.shutdown(wait=True, cancel_futures=True)
        self._http.close()

    # -- knobs ------------------------------------------------------------------------------

    def script(self, phone: str, *outcomes: str) -> None:
        for outcome in outcomes:
            check_outcome(outcome)
        with self._lock:
            self._scripts[_national(phone)] = list(outcomes)

    def fail_next(self, count: int) -> None:
        with self._lock:
            self.knobs.failures = count

    def throttle(self, phone: str) -> None:
        with self._lock:
            self.knobs.throttled.add(_national(phone))

    def blacklist(self, phone: str) -> None:
        with self._lock:
            self.knobs.blacklisted.add(_national(phone))

    def stop_reporting(self) -> None:
        with self._lock:
            self.knobs.reporting = False

    def sent_to(self, phone: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.phone == _national(phone)]

    # -- for the apps ----------------------------------------------------------------------

    def take_failure(self) -> bool:
        with self._lock:
            if self.knobs.failures > 0:
                self.knobs.failures -= 1
                return True
            return False

    def next_outcome(self, phone: str) -> str:
        with self._lock:
            script = self._scripts.get(phone, [])
            return script.pop(0) if len(script) > 1 else (script[0] if script else "delivered")

    def accept(self, message: Message, report: Callable[[Message], None]) -> None:
        with self._lock:
            self.messages.append(message)
        if message.outcome != "lost":
            self._workers.submit(self._settle, message, report)

    def _settle(self, message: Message, report: Callable[[Message], None]) -> None:
        time.sleep(self.step_seconds + (self.slow_seconds if message.outcome == "slow" else 0.0))
        failed = message.outcome.startswith("undelivered:")
        with self._lock:
            message.state = "failed" if failed else "delivered"
            message.code = message.outcome.split(":", 1)[1] if failed else ""
            push = self.knobs.reporting and message.outcome != "silent"
        if push:
            report(message)

    def post(self, url: str, body: Any) -> httpx.Response:
        response = self._http.post(url, json=body)
        with self._lock:
            self.pushes.append((url, response.status_code))
        return response

    def record(self, action: str, status: int) -> None:
        with self._lock:
            self.requests.append((action, status))

    def new_id(self) -> int:
        return next(self._ids)

    def unpulled(self, kind: Callable[[Message], bool]) -> list[Message]:
        with self._lock:
            found = [m for m in self.messages if kind(m) and not m.pulled]
            for message in found:
                message.pulled = True
            return found


def _national(phone: str) -> str:
    return phone[3:] if phone.startswith("+86") else phone

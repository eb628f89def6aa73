"""One SMPP 3.4 transceiver session to an SMSC, kept up, with a window of submits in flight.

Threads (all daemons, named ``smpp-…``):

- the **link** thread connects and binds as transceiver (``bind_transceiver``), retrying with
  exponential back-off (``backoff_seconds`` doubling up to ``backoff_max_seconds``), then reads PDUs
  until the connection drops: ``submit_sm_resp`` settles a submit, ``deliver_sm`` (a receipt or a
  mobile-originated text) is answered with ``deliver_sm_resp`` and handed to ``on_deliver`` on the
  inbound thread; an ``enquire_link`` is sent when nothing was read for ``enquire_link_seconds``, and
  the link is dropped when that goes unanswered for as long again;
- the **writer** thread takes submits from the bounded outbox, oldest first, while fewer than
  ``window`` wait for their response and no faster than ``throughput`` per second, and writes them;
- the **inbound** thread runs ``on_deliver`` so that our database work never holds up the reads.

When the connection drops, submits written without a ``submit_sm_resp`` go back to the head of the
outbox and are written again after the next bind: the SMSC may have taken them before it went away
(at least once; docs/sms.md, "SMPP"). Submits never written were provably not taken.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from smpplib import client as smpp_client
from smpplib import exceptions as smpp_errors
from smpplib import smpp

__all__ = ["Deliver", "OutboxFull", "SessionConfig", "SmppSession", "Submit", "SubmitResult"]

log = logging.getLogger(__name__)
# smpplib logs every PDU in hex at DEBUG: texts and numbers. Its client logs here, held at INFO so that
# no SMS body or phone number reaches a log file whatever the service's level (docs/security.md).
WIRE_LOG = "callcenter.smpp.wire"
logging.getLogger(WIRE_LOG).setLevel(logging.INFO)


class OutboxFull(Exception):
    """More submits wait than the outbox holds."""


@dataclass(frozen=True, slots=True)
class SessionConfig:
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    window: int = 10
    throughput: float = 100.0  # submits per second at most
    enquire_link_seconds: float = 30.0
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    connect_timeout: float = 5.0
    outbox_size: int = 20_000


@dataclass(frozen=True, slots=True)
class SubmitResult:
    status: int  # command_status of the submit_sm_resp
    message_id: str


@dataclass(frozen=True, slots=True)
class Deliver:
    """A deliver_sm as the channel needs it."""

    source: str
    source_ton: int
    destination: str
    esm_class: int
    data_coding: int
    short_message: bytes
    receipted_message_id: str | None
    message_state: int | None


@dataclass
class Submit:
    """One submit_sm to write; ``result`` is settled by its response."""

    params: dict[str, Any]
    result: Future[SubmitResult] = field(default_factory=Future)
    written: bool = False  # written on a connection at least once (may have been taken)


class _Sequence:
    """smpplib's sequence generator, safe across our threads."""

    MAX = 0x7FFFFFFF

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sequence = 0

    @property
    def sequence(self) -> int:
        return self._sequence

    def next_sequence(self) -> int:
        with self._lock:
            self._sequence = self._sequence % self.MAX + 1
            return self._sequence


class SmppSession:
    def __init__(self, config: SessionConfig, on_deliver: Callable[[Deliver], None],
                 on_state: Callable[[bool, str], None] = lambda bound, why: None) -> None:
        self.config = config
        self._on_deliver, self._on_state = on_deliver, on_state
        self._outbox: deque[Submit] = deque()
        self._in_flight: dict[int, Submit] = {}
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._client: smpp_client.Client | None = None
        self._bound = False
        self._stopped = threading.Event()
        self._inbound: queue.Queue[Deliver | None] = queue.Queue()
        self._next_write = 0.0
        self._threads: list[threading.Thread] = []
        self.last_error = ""
        self.resubmitted = 0  # submits written again after a drop (at least once)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        for name, target in (("link", self._link_loop), ("writer", self._write_loop), ("inbound", self._inbound_loop)):
            thread = threading.Thread(target=target, name=f"smpp-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopped.set()
        with self._cond:
            self._cond.notify_all()
        self._inbound.put(None)
        client = self._client
        if client is not None and self._bound:
            try:
                with self._write_lock:
                    client.send_pdu(smpp.make_pdu("unbind", client=client))
            except Exception:  # going away anyway
                pass
        self._drop("stopped")
        for thread in self._threads:
            thread.join(5)
        self._fail_waiting("SMPP session stopped")

    @property
    def bound(self) -> bool:
        return self._bound

    # -- submitting ------------------------------------------------------------------------------

    def submit(self, params: dict[str, Any]) -> Submit:
        """Queue one submit_sm; its ``result`` settles with the response. OutboxFull when full."""
        item = Submit(params)
        with self._cond:
            if len(self._outbox) >= self.config.outbox_size:
                raise OutboxFull(f"{len(self._outbox)} submits already wait")
            self._outbox.append(item)
            self._cond.notify_all()
        return item

    def withdraw(self, *items: Submit) -> bool:
        """Take submits back, all or none: only if none was written (provably not sent)."""
        with self._cond:
            if any(item.written or item not in self._outbox for item in items):
                return False
            for item in items:
                self._outbox.remove(item)
            return True

    def release_unwritten(self, why: str) -> int:
        """Submits never written fail now with ConnectionError(why); how many."""
        with self._cond:
            items = [item for item in self._outbox if not item.written]
            for item in items:
                self._outbox.remove(item)
        for item in items:
            if not item.result.done():
                item.result.set_exception(ConnectionError(why))
        return len(items)

    def in_flight(self) -> int:
        """Submits written and not yet answered."""
        with self._cond:
            return len(self._in_flight)

    def waiting(self) -> int:
        with self._cond:
            return len(self._outbox) + len(self._in_flight)

    def _write_loop(self) -> None:
        while not self._stopped.is_set():
            item = self._next_item()
            if item is None:
                continue
            self._pace()
            if not self._write(item):
                with self._cond:
                    self._outbox.appendleft(item)

    def _next_item(self) -> Submit | None:
        with self._cond:
            while not self._stopped.is_set() and not (
                    self._bound and self._outbox and len(self._in_flight) < self.config.window):
                self._cond.wait(0.5)
            if self._stopped.is_set():
                return None
            return self._outbox.popleft()

    def _pace(self) -> None:
        now = time.monotonic()
        wait = self._next_write - now
        if wait > 0:
            time.sleep(wait)
        self._next_write = max(now, self._next_write) + 1.0 / self.config.throughput

    def _write(self, item: Submit) -> bool:
        client = self._client
        if client is None or not self._bound:
            return False
        pdu = smpp.make_pdu("submit_sm", client=client, **item.params)
        with self._cond:
            self._in_flight[pdu.sequence] = item
        item.written = True
        try:
            with self._write_lock:
                client.send_pdu(pdu)
        except (smpp_errors.ConnectionError, smpp_errors.PDUError, OSError, AttributeError) as exc:
            with self._cond:
                self._in_flight.pop(pdu.sequence, None)
            self._drop(f"write failed: {exc}")
            return False
        return True

    # -- the link ------------------------------------------------------------------------------------

    def _link_loop(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            try:
                self._bind()
            except (smpp_errors.ConnectionError, smpp_errors.PDUError, OSError) as exc:
                failures += 1
                delay = min(self.config.backoff_max_seconds, self.config.backoff_seconds * 2 ** (failures - 1))
                self.last_error = f"bind to {self.config.host}:{self.config.port} failed: {exc}"
                log.warning("SMPP %s; next try in %.1f s", self.last_error, delay)
                self._on_state(False, self.last_error)
                self._stopped.wait(delay)
                continue
            failures = 0
            self._read_until_dropped()

    def _bind(self) -> None:
        config = self.config
        client = smpp_client.Client(config.host, config.port, timeout=config.connect_timeout,
                                    sequence_generator=_Sequence(), logger_name=WIRE_LOG,
                                    allow_unknown_opt_params=True)
        client.connect()
        try:
            client.bind_transceiver(system_id=config.system_id, password=config.password,
                                    system_type=config.system_type)
        except BaseException:
            client.disconnect()
            raise
        client._socket.settimeout(config.enquire_link_seconds)  # a quiet link gets an enquire_link
        with self._cond:
            self._client, self._bound = client, True
            self._cond.notify_all()
        log.info("SMPP bound as transceiver to %s:%s as %s", config.host, config.port, config.system_id)
        self._on_state(True, "")

    def _read_until_dropped(self) -> None:
        client, unanswered = self._client, 0
        while client is not None and self._bound and not self._stopped.is_set():
            try:
                pdu = client.read_pdu()
            except TimeoutError:
                unanswered += 1
                if unanswered > 1 or not self._send(client, smpp.make_pdu("enquire_link", client=client)):
                    self._drop("enquire_link unanswered")
                continue
            except (smpp_errors.ConnectionError, smpp_errors.PDUError, OSError, ValueError) as exc:
                self._drop(f"read failed: {exc or type(exc).__name__}")
                continue
            unanswered = 0
            self._dispatch(client, pdu)

    def _dispatch(self, client: smpp_client.Client, pdu: Any) -> None:
        command = pdu.command
        if command == "submit_sm_resp":
            self._settle(pdu)
        elif command in ("deliver_sm", "data_sm"):
            self._deliver(client, pdu)
        elif command == "enquire_link":
            self._send(client, _response("enquire_link_resp", client, pdu))
        elif command == "unbind":
            self._send(client, _response("unbind_resp", client, pdu))
            self._drop("the SMSC unbound")
        elif command == "generic_nack":
            self._settle(pdu)

    def _settle(self, pdu: Any) -> None:
        with self._cond:
            item = self._in_flight.pop(pdu.sequence, None)
            self._cond.notify_all()
        if item is None:
            return
        message_id = pdu.message_id.decode() if isinstance(pdu.message_id, bytes) else str(pdu.message_id or "")
        if not item.result.done():
            item.result.set_result(SubmitResult(int(pdu.status), message_id))

    def _deliver(self, client: smpp_client.Client, pdu: Any) -> None:
        resp = _response("deliver_sm_resp" if pdu.command == "deliver_sm" else "data_sm_resp", client, pdu)
        self._inbound.put(Deliver(_text(pdu.source_addr), int(pdu.source_addr_ton or 0), _text(pdu.destination_addr),
                                  int(pdu.esm_class or 0), int(pdu.data_coding or 0),
                                  bytes(pdu.short_message or getattr(pdu, "message_payload", None) or b""),
                                  _text(pdu.receipted_message_id) or None, pdu.message_state))
        self._send(client, resp)

    def _send(self, client: smpp_client.Client, pdu: Any) -> bool:
        try:
            with self._write_lock:
                client.send_pdu(pdu)
            return True
        except (smpp_errors.ConnectionError, smpp_errors.PDUError, OSError, AttributeError) as exc:
            self._drop(f"write failed: {exc}")
            return False

    def _drop(self, why: str) -> None:
        """The connection is gone: submits without a response go back to the head of the outbox."""
        with self._cond:
            client, self._client, was_bound = self._client, None, self._bound
            self._bound = False
            unanswered = [self._in_flight.pop(seq) for seq in sorted(self._in_flight)]
            self._outbox.extendleft(reversed(unanswered))
            self.resubmitted += len(unanswered)
            self._cond.notify_all()
        if client is not None:
            with contextlib.suppress(Exception):  # the socket may be gone already
                client.disconnect()
        if was_bound:
            self.last_error = why
            log.warning("SMPP link to %s:%s dropped (%s); %d submits without a response will be sent again",
                        self.config.host, self.config.port, why, len(unanswered))
            self._on_state(False, why)

    def _fail_waiting(self, why: str) -> None:
        with self._cond:
            items = list(self._outbox) + list(self._in_flight.values())
            self._outbox.clear()
            self._in_flight.clear()
        for item in items:
            if not item.result.done():
                item.result.set_exception(ConnectionError(why))

    # -- inbound -------------------------------------------------------------------------------------

    def _inbound_loop(self) -> None:
        while True:
            deliver = self._inbound.get()
            if deliver is None:
                return
            try:
                self._on_deliver(deliver)
            except Exception:
                log.exception("SMPP deliver_sm from %s not handled", "***")


def _response(command: str, client: smpp_client.Client, request: Any) -> Any:
    """A response carrying its request's sequence number (smpplib's constructor ignores ``sequence=``:
    its property reads the client's last number, so it must be set afterwards)."""
    resp = smpp.make_pdu(command, client=client)
    resp.sequence = request.sequence
    return resp


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)

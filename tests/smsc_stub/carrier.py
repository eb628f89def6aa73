"""The carrier's SMSC behind the Jasmin gateway, as the tests need it: the far end of the real server.

Our SMPP channel binds to Jasmin (the real SMPP server under test); Jasmin routes our messages to an
SMPP client connector, and that connector binds here. A gateway cannot make delivery receipts up,
so this stub plays the carrier: it answers every ``submit_sm``, keeps what it received for the
tests to read, and sends a delivery receipt per message (``DELIVRD``, or the ``stat``/``err`` a test
set for a destination). It stores receipts until they are acknowledged by ``deliver_sm_resp`` and
sends them again after a re-bind (on any of the gateway's binds), as an SMSC's store-and-forward
does, so that a restarted Jasmin gets them. ``send_mo`` injects a mobile-originated message (a
responder's reply).

Runs an asyncio server on its own thread; PDUs are built and parsed with smpplib's codec.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from smpplib import smpp

__all__ = ["CarrierSmsc", "Fate", "Received"]

RECEIPT = 0x04  # esm_class: SMSC delivery receipt
UCS2 = 0x08


@dataclass(frozen=True, slots=True)
class Fate:
    """What the carrier reports for messages to a destination: its receipt ``stat`` and ``err``."""

    stat: str = "DELIVRD"
    err: str = "000"


_STATES = {"DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "ACCEPTD": 6, "UNKNOWN": 7, "REJECTD": 8}


@dataclass(frozen=True, slots=True)
class Received:
    message_id: str
    source: str
    destination: str
    esm_class: int
    data_coding: int
    short_message: bytes
    registered_delivery: int

    def udh(self) -> bytes:
        return self.short_message[: self.short_message[0] + 1] if self.esm_class & 0x40 else b""

    def text(self) -> str:
        body = self.short_message[len(self.udh()):]
        return body.decode("utf-16-be") if self.data_coding == UCS2 else body.decode("latin-1")


class _Sequence:
    """What smpplib's PDUs ask of a client: sequence numbers."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self.sequence = 0

    def next_sequence(self) -> int:
        self.sequence = next(self._numbers)
        return self.sequence


@dataclass
class _Session:
    writer: asyncio.StreamWriter
    system_id: str


@dataclass
class CarrierSmsc:
    port: int = 0  # 0: any free port, read ``port`` after start
    receipt_delay: float = 0.05
    fates: dict[str, Fate] = field(default_factory=dict)  # by destination address
    received: list[Received] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _seq: _Sequence = field(default_factory=_Sequence)
    _sessions: list[_Session] = field(default_factory=list)  # Jasmin binds several connectors
    _unacked: dict[int, bytes] = field(default_factory=dict)  # sequence → deliver_sm not yet answered
    _receipt_of: dict[int, str] = field(default_factory=dict)  # sequence → the message id a receipt is for
    receipts_taken: set[str] = field(default_factory=set)  # message ids whose receipt the gateway acknowledged
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> CarrierSmsc:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="carrier-smsc", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("carrier SMSC did not start")
        return self

    def _run(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    # -- what tests read and do --------------------------------------------------------------------

    def bound(self, sessions: int = 1) -> bool:
        return len(self._sessions) >= sessions

    def received_for(self, destination: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.destination == destination]

    def send_mo(self, source: str, destination: str, text: str) -> None:
        """A mobile-originated text from ``source`` to our number ``destination``."""
        assert self._loop is not None
        pdu = smpp.make_pdu("deliver_sm", client=self._seq, source_addr_ton=1, source_addr_npi=1, source_addr=source,
                            dest_addr_ton=1, dest_addr_npi=1, destination_addr=destination, esm_class=0,
                            data_coding=UCS2, short_message=text.encode("utf-16-be"))
        self._loop.call_soon_threadsafe(self._send_stored, pdu.sequence, pdu.generate())

    # -- the SMPP session -----------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readexactly(4)
                (length,) = struct.unpack(">L", head)
                raw = head + await reader.readexactly(length - 4)
                pdu = smpp.parse_pdu(raw, client=self._seq, allow_unknown_opt_params=True)
                self._handle(pdu, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._sessions = [session for session in self._sessions if session.writer is not writer]
            writer.close()

    def _handle(self, pdu: Any, writer: asyncio.StreamWriter) -> None:
        command = pdu.command
        if command in ("bind_transceiver", "bind_transmitter", "bind_receiver"):
            self._reply(writer, f"{command}_resp", pdu, system_id="carrier")
            self._sessions = [*self._sessions, _Session(writer, _text(pdu.system_id))]
            for raw in list(self._unacked.values()):  # store and forward: receipts not yet acknowledged
                writer.write(raw)
        elif command == "enquire_link":
            self._reply(writer, "enquire_link_resp", pdu)
        elif command == "unbind":
            self._reply(writer, "unbind_resp", pdu)
        elif command == "submit_sm":
            self._submit(pdu, writer)
        elif command == "deliver_sm_resp":
            self._unacked.pop(pdu.sequence, None)
            taken = self._receipt_of.pop(pdu.sequence, None)
            if taken is not None:
                with self._lock:
                    self.receipts_taken.add(taken)

    def _reply(self, writer: asyncio.StreamWriter, command: str, request: Any, **params: object) -> None:
        resp = smpp.make_pdu(command, client=self._seq, **params)
        resp.sequence = request.sequence  # smpplib ignores sequence= in the constructor
        writer.write(resp.generate())

    def _submit(self, pdu: Any, writer: asyncio.StreamWriter) -> None:
        message_id = f"{0x10000000 + next(self._ids):X}"  # as Jasmin codes receipt ids: upper case, no leading 0
        got = Received(message_id, _text(pdu.source_addr), _text(pdu.destination_addr),
                       int(pdu.esm_class or 0), int(pdu.data_coding or 0),
                       bytes(pdu.short_message or b""), int(pdu.registered_delivery or 0))
        with self._lock:
            self.received.append(got)
        self._reply(writer, "submit_sm_resp", pdu, message_id=message_id)
        if got.registered_delivery & 0x03:
            assert self._loop is not None
            self._loop.call_later(self.receipt_delay, self._receipt, got)

    def _receipt(self, got: Received) -> None:
        fate = self.fates.get(got.destination, Fate())
        stamp = time.strftime("%y%m%d%H%M")
        done = 1 if fate.stat == "DELIVRD" else 0
        text = (f"id:{got.message_id} sub:001 dlvrd:{done:03d} submit date:{stamp} done date:{stamp} "
                f"stat:{fate.stat} err:{fate.err} text:")
        pdu = smpp.make_pdu("deliver_sm", client=self._seq, source_addr_ton=1, source_addr_npi=1,
                            source_addr=got.destination, dest_addr_ton=1, dest_addr_npi=1,
                            destination_addr=got.source, esm_class=RECEIPT, data_coding=0,
                            short_message=text.encode("ascii"), receipted_message_id=got.message_id,
                            message_state=_STATES.get(fate.stat, 7))
        self._receipt_of[pdu.sequence] = got.message_id
        self._send_stored(pdu.sequence, pdu.generate())

    def _send_stored(self, sequence: int, raw: bytes) -> None:
        self._unacked[sequence] = raw
        if self._sessions:  # any bind of the gateway will do: it looks receipts up by message id
            self._sessions[sequence % len(self._sessions)].writer.write(raw)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")



"""Real SIP peers for process-level engine tests: engine processes with the SIP call channel,
Kamailio on loopback, and one sipp phone that rings for every responder and never answers.

The phone's message trace (sipp ``-trace_msg``) tells what was dialled whatever became of the
engine process that dialled it: every INVITE dialog it received, with the Request-URI user (the
number dialled) and the time it arrived.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sip.edge import register_with_digest
from sip.harness import Sipp, free_udp_range, register_contact
from sqlalchemy import text

from callcenter.db.incident_repo import SqlIncidentStore

RESPONDER_TRACE = "responders-messages.log"
_ENTRY = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)$", re.MULTILINE)
_REQUEST_USER = re.compile(r"^INVITE sip:([^@;>\s]+)@", re.MULTILINE)
_CANCEL = re.compile(r"^CANCEL sip:", re.MULTILINE)
# Both end on a complete token, so an entry caught half written is read again whole next time.
_CALL_ID = re.compile(r"^Call-ID:\s*(\S+)\r?\n", re.MULTILINE | re.IGNORECASE)


@dataclass(frozen=True)
class Invite:
    """One INVITE dialog as the responders' phone first received it."""

    number: str  # the Request-URI user: the number dialled
    call_id: str
    at: float  # wall clock (time.time() scale) of its arrival


def sip_env(kamailio_port: int, sip_port: int, ring_timeout: float, channels: int = 30) -> dict[str, str]:
    """Settings of an engine process placing up to ``channels`` alert calls at once (an RTP port
    each, even while they ring) through Kamailio from ``sip_port``."""
    low, high = free_udp_range(2 * channels + 10)  # an RTP port and its RTCP port per call
    return {
        "CALLCENTER_ENGINE__CALL_CHANNEL": "sip",
        "CALLCENTER_SIP__REGISTRAR_HOST": "127.0.0.1",
        "CALLCENTER_SIP__REGISTRAR_PORT": str(kamailio_port),
        "CALLCENTER_SIP__SIP_PORT": str(sip_port),
        "CALLCENTER_SIP__RTP_PORT_LOW": str(low),
        "CALLCENTER_SIP__RTP_PORT_HIGH": str(high),
        "CALLCENTER_SIP__RING_TIMEOUT": f"{ring_timeout:g}",
        "CALLCENTER_SIP__REGISTER_EXPIRES": "10",
        "CALLCENTER_SIP__MAX_CHANNELS": str(channels),
    }


def responders_phone(work: Path) -> Sipp:
    """One sipp phone that rings and never answers (the caller CANCELs), tracing every message."""
    return Sipp("responder_never_answers", work, calls=100_000, rate=1000,
                extra=["-trace_msg", "-message_file", str(work / RESPONDER_TRACE),
                       "-recv_timeout", "100000", "-l", "1000"]).start()


def responder_numbers(store: SqlIncidentStore) -> list[str]:
    with store.engine.connect() as conn:
        return [str(p) for p in conn.execute(text("SELECT DISTINCT phone FROM responder")).scalars()]


def register_responders(store: SqlIncidentStore, registrar_port: int, phone_port: int,
                        expires: int = 600, password: str = "") -> list[str]:
    """Bind every responder's number at Kamailio to the one sipp phone for ``expires`` seconds;
    with ``password``, answering the registrar's digest challenge (the production edge's)."""
    phones = responder_numbers(store)
    for phone in phones:
        if password:
            register_with_digest(registrar_port, phone, password, phone_port, expires)
        else:
            register_contact(registrar_port, phone, phone_port, expires)
    return phones


@dataclass
class PhoneTrace:
    """The phone's message trace, read as it grows: each call parses only what was added since."""

    path: Path
    _offset: int = 0  # start of the last entry read: it may have been caught half written
    _seen: dict[str, Invite] = field(default_factory=dict)
    _cancelled: dict[str, float] = field(default_factory=dict)

    def invites(self) -> list[Invite]:
        """Each INVITE dialog (Call-ID) received so far, at its first arrival, in order of arrival."""
        self._read()
        return sorted(self._seen.values(), key=lambda invite: invite.at)

    def cancels(self) -> dict[str, float]:
        """Call-ID → arrival (wall clock) of the first CANCEL received for it so far."""
        self._read()
        return dict(self._cancelled)

    def _read(self) -> None:
        if self.path.exists():
            with self.path.open("rb") as trace:
                trace.seek(self._offset)
                self._parse(trace.read().decode(errors="replace"))

    def _parse(self, body: str) -> None:
        starts = [match.start() for match in _ENTRY.finditer(body)]
        if starts:
            self._offset += len(body[:starts[-1]].encode(errors="replace"))
        entries = _ENTRY.split(body)[1:]  # [stamp, message, stamp, message, ...]
        for stamp, message in zip(entries[0::2], entries[1::2], strict=True):
            call_id = _CALL_ID.search(message)
            if "message received" not in message or not call_id:
                continue
            at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()  # sipp writes local time
            request = _REQUEST_USER.search(message)
            if request and call_id.group(1) not in self._seen:
                self._seen[call_id.group(1)] = Invite(request.group(1), call_id.group(1), at)
            elif _CANCEL.search(message):
                self._cancelled.setdefault(call_id.group(1), at)


def received_invites(work: Path) -> list[Invite]:
    return PhoneTrace(work / RESPONDER_TRACE).invites()


def invites_by_recipient(work: Path) -> Counter[str]:
    """Distinct INVITE dialogs each responder number received at the phone."""
    return Counter(invite.number for invite in received_invites(work))


def stored_form(number: str, known: Counter[str] | set[str]) -> str:
    """The stored form of a number as it appeared in a Request-URI (the service may dial it national)."""
    return number if number in known else next((k for k in known if k.endswith(number)), number)

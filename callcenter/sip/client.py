"""pyVoIP's SIPClient hardened: one receive loop owns the socket from the start, registration is a
non-blocking transaction with back-off that never gives up, every request method is answered, and
outbound INVITEs return at once (responses arrive through the receive loop).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyVoIP.VoIP  # noqa: F401  (pyVoIP must be imported through pyVoIP.VoIP first)
from pyVoIP.SIP import SIPClient, SIPMessage, SIPMessageType
from pyVoIP.VoIP.status import PhoneStatus

from callcenter.sip import message as sipmsg
from callcenter.sip import wire
from callcenter.sip.orphans import INVITE_CSEQ, DialogIds
from callcenter.sip.registration import RegistrationTracker, backoff_delay

if TYPE_CHECKING:
    from callcenter.sip.phone import HardenedPhone

__all__ = ["FOREIGN_SIP", "ForeignSignalling", "HardenedSIPClient", "contact_uri"]

log = logging.getLogger(__name__)

REGISTER_TIMEOUT = 2.0  # seconds for one REGISTER transaction on the first hop
FOREIGN_LOG_EVERY = 60.0  # seconds between warnings about SIP from outside the proxy (a scan is thousands)


class ForeignSignalling:
    """SIP datagrams dropped because they did not come from the proxy, counted for the whole process
    (/metrics): a scan or an attempt to reach the service around the edge."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.dropped = 0
        self._logged_at = -FOREIGN_LOG_EVERY

    def count(self, source: tuple[str, int] | None) -> None:
        with self._lock:
            self.dropped += 1
            now = time.monotonic()
            due = now - self._logged_at >= FOREIGN_LOG_EVERY
            if due:
                self._logged_at = now
            dropped = self.dropped
        if due:
            log.warning("SIP from %s dropped: not from the proxy (%d such datagrams since start)",
                        f"{source[0]}:{source[1]}" if source else "unknown", dropped)


FOREIGN_SIP = ForeignSignalling()
REFRESH_MARGIN = 0.8  # refresh the binding after 80% of its lifetime


class RegistrationError(Exception):
    """The registrar did not accept our REGISTER (timeout, error response, bad credentials)."""


class HardenedSIPClient(SIPClient):
    phone: HardenedPhone
    register_timeout: float  # type: ignore[assignment]  # pyVoIP declares whole seconds

    def __init__(self, *args: Any, clock: Callable[[], datetime] | None = None, registers: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.registers = registers  # False: the alert calls' socket, which dials and answers but never registers
        self.registration = RegistrationTracker()
        # One Call-ID for every REGISTER of this phone to its registrar, refreshes and the final
        # un-REGISTER alike, with CSeq counting up (RFC 3261 10.2): pyVoIP made a new one each time.
        self.register_call_id = self.gen_call_id()
        self.register_timeout = REGISTER_TIMEOUT
        self._clock = clock or (lambda: datetime.now(UTC))
        self._register_responses: queue.Queue[SIPMessage] = queue.Queue()
        self._stopping = threading.Event()
        self._register_now = threading.Event()  # set by the keepalive when a lost registrar answers again
        self._threads: list[threading.Thread] = []
        self.sent_invites: dict[str, str] = {}  # Call-ID → INVITE text, for CANCEL and non-2xx ACK
        self.malformed = 0  # datagrams refused by wire.tidy (answered 400/416/505 or dropped)
        self.datagrams = 0  # datagrams read by the receive loop
        # Addresses SIP is taken from (the proxy's); None: anyone. Nothing else is even parsed: the
        # households reach us only through the edge, which decides trust (docs/security.md).
        self.only_from: frozenset[str] | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Bind, start the receive loop, then register in the background (defect b: no start-up race)."""
        if self.NSD:
            raise RuntimeError("SIP client already started")
        self.NSD = True
        self._stopping.clear()
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((self.myIP, self.myPort))
        self.myPort = self.s.getsockname()[1]  # port 0 in settings: take what the OS gave
        self.out = self.s
        self._spawn("sip-receive" if self.registers else "sip-alert-receive", self.recv_loop)
        if self.registers:
            self._spawn("sip-register", self._registration_loop)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        if not self.NSD:
            return
        self._stopping.set()
        if self.registers:
            with contextlib.suppress(OSError):
                self._send(self.gen_first_response(deregister=True))
        self.NSD = False
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads.clear()
        self._close_sockets()

    # -- receiving -----------------------------------------------------------------------------
    def recv_loop(self) -> None:
        while self.NSD:
            try:
                ready, _, _ = select.select([self.s], [], [], 0.2)
                if not ready:
                    continue
                raw, source = self.s.recvfrom(65535)
            except (OSError, ValueError):
                if not self.NSD:
                    return
                continue
            self._handle_datagram(raw, source)

    def _handle_datagram(self, raw: bytes, source: tuple[str, int] | None = None) -> None:
        self.datagrams += 1
        if self.only_from is not None and (source is None or source[0] not in self.only_from):
            FOREIGN_SIP.count(source)
            return  # no answer: a scanner learns nothing, a forged reply cannot be reflected at anyone
        if len(raw) > sipmsg.MAX_MESSAGE_BYTES or raw.strip(b"\r\n\x00") == b"":
            return  # keep-alives and oversized junk
        try:
            message = sipmsg.SipMessage(wire.tidy(raw))
        except wire.Malformed as exc:
            self._refuse(exc, source)
            return
        except Exception as exc:  # garbage must never stop the receive loop
            self._refuse(wire.Malformed(0, f"unparseable: {type(exc).__name__}"), source)
            return
        message.source = source
        try:
            self.parse_message(message)
        except Exception:
            log.exception("error handling %s", message.heading[:80])

    def _refuse(self, malformed: wire.Malformed, source: tuple[str, int] | None) -> None:
        """Answer a malformed request when it deserves an answer; never more than one datagram per datagram."""
        self.malformed += 1
        log.debug("malformed SIP datagram from %s: %s", source, malformed)
        answer = wire.answer(malformed)
        if answer is not None and source is not None:
            with contextlib.suppress(OSError):
                self.out.sendto(answer, source)

    def parse_message(self, message: SIPMessage) -> None:
        if message.type == SIPMessageType.RESPONSE:
            self._on_response(message)
            return
        if message.method not in ("INVITE", "ACK", "CANCEL") and "Require" in message.headers:
            self._bad_extension(message)  # RFC 3261 8.2.2.3 (an INVITE is answered anyway: it is an emergency)
            return
        handler = self._request_handlers().get(message.method)
        if handler is None:
            handler = self._not_allowed if message.method in sipmsg.ACCEPTED_METHODS else self._not_implemented
        handler(message)

    def _request_handlers(self) -> dict[str, Callable[[SIPMessage], None]]:
        phone = self._phone
        return {
            "INVITE": phone.on_invite,
            "ACK": phone.on_ack,
            "BYE": self._on_bye,
            "CANCEL": self._on_cancel,
            "OPTIONS": self._ok,
            "NOTIFY": self._ok,
            "INFO": self._ok,
        }

    @property
    def _phone(self) -> HardenedPhone:
        return self.phone

    def _on_response(self, message: SIPMessage) -> None:
        method = message.headers["CSeq"]["method"]
        if method == "REGISTER":
            self._register_responses.put(message)
        elif method == "INVITE":
            self._phone.on_invite_response(message, self)

    def _ok(self, request: SIPMessage) -> None:
        self.reply(request, sipmsg.response(request, 200, "OK", extra="Accept: application/sdp\r\n"))

    def _not_implemented(self, request: SIPMessage) -> None:
        self.reply(request, sipmsg.response(request, 501, "Not Implemented"))

    def _not_allowed(self, request: SIPMessage) -> None:
        """A method we know but do not take (REGISTER, SUBSCRIBE, ...): we are a phone, not a server."""
        self.reply(request, sipmsg.response(request, 405, "Method Not Allowed"))

    def _bad_extension(self, request: SIPMessage) -> None:
        unsupported = str(request.headers["Require"])[:200]
        self.reply(request, sipmsg.response(request, 420, "Bad Extension", extra=f"Unsupported: {unsupported}\r\n"))

    def _on_bye(self, request: SIPMessage) -> None:
        self.reply(request, sipmsg.response(request, 200, "OK"))
        self._phone.on_bye(request)

    def _on_cancel(self, request: SIPMessage) -> None:
        self.reply(request, sipmsg.response(request, 200, "OK"))
        self._phone.on_cancel(request)

    def _send(self, text: str) -> None:
        self.out.sendto(text.encode("utf8"), (self.server, self.port))

    def reply(self, request: SIPMessage, text: str) -> None:
        """A response goes back where its request came from (RFC 3261 18.2.2; RFC 3581): through the
        registrar for proxied requests, straight back to a peer that sent to us directly."""
        source = getattr(request, "source", None)
        self.out.sendto(text.encode("utf8"), source or (self.server, self.port))

    # -- registration --------------------------------------------------------------------------
    def _registration_loop(self) -> None:
        tracker = self.registration
        while not self._stopping.is_set():
            try:
                self._register_once()
                tracker.set(tracker.status.succeeded(self._clock()))
                self.phone._status = _phone_status("REGISTERED")
                delay = self.default_expires * REFRESH_MARGIN
            except Exception as exc:  # every failure is retried: the phone never gives up
                tracker.set(tracker.status.failed(self._clock(), f"{type(exc).__name__}: {exc}"))
                self.phone._status = _phone_status("REGISTERING")
                delay = backoff_delay(tracker.status.failures)
                log.warning("REGISTER failed (%s), retrying in %.1f s", exc, delay)
            self._pause(delay)

    def request_register(self) -> None:
        """REGISTER now instead of at the next refresh or retry (the keepalive's registrar came back)."""
        self._register_now.set()

    def _pause(self, delay: float) -> None:
        deadline = time.monotonic() + delay
        while not self._stopping.is_set() and (left := deadline - time.monotonic()) > 0:
            if self._register_now.wait(min(left, 0.5)):
                break
        self._register_now.clear()

    def _register_once(self) -> None:
        _drain(self._register_responses)
        request = self.gen_first_response()
        response = self._register_transaction(request)
        if int(response.status) == 401:
            response = self._register_transaction(self.gen_register(response))
        if int(response.status) != 200:
            raise RegistrationError(f"registrar answered {int(response.status)} {response.status.phrase}")

    def _register_transaction(self, request: str) -> SIPMessage:
        """One REGISTER and its final response: the one with its CSeq (every REGISTER shares the Call-ID,
        so a late answer to an earlier one must not count)."""
        call_id, cseq = sipmsg.call_id_of(request), _cseq_number(request)
        self._send(request)
        deadline = time.monotonic() + self.register_timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                response = self._register_responses.get(timeout=left)
            except queue.Empty:
                break
            if (response.headers.get("Call-ID") == call_id and str(response.headers["CSeq"]["check"]) == cseq
                    and int(response.status) >= 200):
                return response
        raise RegistrationError(f"no answer from registrar {self.server}:{self.port}")

    # -- messages pyVoIP builds, corrected ------------------------------------------------------
    def gen_first_response(self, deregister: bool = False) -> str:
        """REGISTER (or un-REGISTER) with this phone's one registration Call-ID and our Allow."""
        text = str(super().gen_first_response(deregister))
        text = re.sub(r"^Call-ID: [^\r\n]*", f"Call-ID: {self.register_call_id}", text, count=1, flags=re.MULTILINE)
        return sipmsg.with_allow(text)

    def gen_register(self, request: SIPMessage, deregister: bool = False) -> str:
        return sipmsg.with_allow(str(super().gen_register(request, deregister)))

    def gen_answer(self, request: SIPMessage, sess_id: str, ms: Any, sendtype: Any) -> str:
        return sipmsg.with_allow(str(super().gen_answer(request, sess_id, ms, sendtype)))

    def gen_invite(self, number: str, sess_id: str, ms: Any, sendtype: Any, branch: str, call_id: str) -> str:
        return sipmsg.with_allow(str(super().gen_invite(number, sess_id, ms, sendtype, branch, call_id)))

    # -- identifiers (defect c) ----------------------------------------------------------------
    def gen_ringing(self, request: SIPMessage) -> str:
        """pyVoIP's 180 copies the caller's Contact (RFC 3261 requires one in an INVITE, but a household
        whose phone leaves it out is still an emergency): when missing, ours stands in."""
        request.headers.setdefault("Contact", f"<sip:{self.username}@{self.myIP}:{self.myPort}>")
        return str(super().gen_ringing(request))

    def gen_call_id(self) -> str:
        """Random Call-IDs: pyVoIP hashes a counter starting at 1, so every restart repeats old ones."""
        return f"{uuid.uuid4().hex}@{self.myIP}:{self.myPort}"

    # -- outbound INVITE, ACK, CANCEL, BYE -----------------------------------------------------
    def invite(self, number: str, ms: dict[int, dict[str, Any]], sendtype: Any,
               ids: DialogIds | None = None) -> tuple[SIPMessage, str, int]:
        """Send the INVITE and return at once; pyVoIP blocks here reading the socket. With ``ids`` its
        Call-ID, branch, From tag and CSeq are those another instance can recompute to CANCEL it."""
        call_id = ids.call_id if ids else self.gen_call_id()
        sess_id = self.sessID.next()
        text = self.gen_invite(number, str(sess_id), ms, sendtype, ids.branch if ids else sipmsg.new_branch(), call_id)
        if ids is not None:
            text = _with_tag_and_cseq(text, self.tagLibrary[call_id], ids.tag)
            self.tagLibrary[call_id] = ids.tag
        self.sent_invites[call_id] = text
        self._send(text)
        return sipmsg.SipMessage(text.encode("utf8")), call_id, sess_id

    def gen_ack(self, request: SIPMessage) -> str:
        """ACK for a final response to our INVITE (defect d: the To-tag is the callee's, not a new one)."""
        code = int(request.status)
        invite = self.sent_invites.get(request.headers["Call-ID"], "")
        if 200 <= code < 300:
            uri = contact_uri(request.headers.get("Contact", ""))
            via = f"Via: SIP/2.0/UDP {self.myIP}:{self.myPort};branch={sipmsg.new_branch()};rport\r\n"
        else:
            uri = invite.split(" ", 2)[1] if invite else request.headers["To"]["raw"].strip("<>")
            via = _first_via(invite) or sipmsg.via_lines(request)
        to = request.headers["To"]
        return (
            f"ACK {uri or to['raw'].strip('<>')} SIP/2.0\r\n" + via + "Max-Forwards: 70\r\n"
            + f"To: {to['raw']};tag={to['tag']}\r\n"
            + f"From: {request.headers['From']['raw']};tag={request.headers['From']['tag']}\r\n"
            + f"Call-ID: {request.headers['Call-ID']}\r\nCSeq: {request.headers['CSeq']['check']} ACK\r\n"
            + "Content-Length: 0\r\n\r\n"
        )

    def cancel(self, call_id: str) -> bool:
        """CANCEL our ringing INVITE: same Request-URI, Via branch, Call-ID, From, To and CSeq number."""
        invite = self.sent_invites.get(call_id)
        if invite is None:
            return False
        head = invite.split("\r\n\r\n", 1)[0].split("\r\n")
        keep = ("Via:", "From:", "To:", "Call-ID:", "Max-Forwards:")
        lines = [line for line in head[1:] if line.startswith(keep)]
        cseq = next(line for line in head if line.startswith("CSeq:")).split()[1]
        uri = head[0].split(" ")[1]
        headers = "\r\n".join(lines)
        self._send(f"CANCEL {uri} SIP/2.0\r\n{headers}\r\nCSeq: {cseq} CANCEL\r\nContent-Length: 0\r\n\r\n")
        return True

    def gen_bye(self, request: SIPMessage) -> str:
        """pyVoIP's BYE with a fresh Via branch (it reuses the INVITE's, making it a retransmission)."""
        text = sipmsg.with_allow(str(super().gen_bye(request)))
        fresh = f"Via: SIP/2.0/UDP {self.myIP}:{self.myPort};branch={sipmsg.new_branch()};rport\r\n"
        return re.sub(r"(?:Via: [^\r\n]*\r\n)+", lambda _m: fresh, text, count=1)

    def forget(self, call_id: str) -> None:
        self.sent_invites.pop(call_id, None)
        self.tagLibrary.pop(call_id, None)


def _with_tag_and_cseq(invite: str, tag: str, wanted: str) -> str:
    head, body = invite.split("\r\n\r\n", 1)
    from_tag = rf"^(From: [^\r\n]*;tag=){re.escape(tag)}(?=\r|$)"
    head = re.sub(from_tag, rf"\g<1>{wanted}", head, count=1, flags=re.MULTILINE)
    head = re.sub(r"^CSeq: \d+ INVITE(?=\r|$)", f"CSeq: {INVITE_CSEQ} INVITE", head, count=1, flags=re.MULTILINE)
    return f"{head}\r\n\r\n{body}"


def _cseq_number(text: str) -> str:
    found = re.search(r"^CSeq: *(\d+)", text, re.MULTILINE)
    return found.group(1) if found else ""


def _first_via(invite: str) -> str:
    found = re.search(r"^Via: [^\r\n]*\r\n", invite, re.MULTILINE)
    return found.group(0) if found else ""


def _drain(responses: queue.Queue[SIPMessage]) -> None:
    while True:
        try:
            responses.get_nowait()
        except queue.Empty:
            return


def _phone_status(name: str) -> PhoneStatus:
    return PhoneStatus[name]


def contact_uri(contact: str) -> str:
    """The URI of a Contact header value: ``"x" <sip:a@b:5>;expires=1`` or ``sip:a@b:5``."""
    bracketed = re.search(r"<([^>]+)>", contact)
    return bracketed.group(1) if bracketed else contact.split(";")[0].strip()

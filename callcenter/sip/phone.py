"""pyVoIP's VoIPPhone and VoIPCall hardened (defects a–k of docs/sip.md), same constructor as pyVoIP's."""

from __future__ import annotations

import logging
import queue
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pyVoIP.VoIP  # noqa: F401  (pyVoIP must be imported through pyVoIP.VoIP first)
from pyVoIP.RTP import PayloadType, TransmitType
from pyVoIP.SIP import SIPMessage
from pyVoIP.VoIP import CallState, NoPortsAvailableError, PhoneStatus, VoIPCall, VoIPPhone

from callcenter.domain.types import CallerId, CallerTrust
from callcenter.sip import message as sipmsg
from callcenter.sip import sdp
from callcenter.sip.client import HardenedSIPClient
from callcenter.sip.orphans import DialogIds
from callcenter.sip.registration import RegistrationStatus
from callcenter.sip.rtp import MEDIA_QUALITY, HardenedRTPClient, open_rtp_socket
from callcenter.sip.trust import Caller, caller_of
from contacts.phones import mask_phone

__all__ = ["ACK_TIMEOUT", "PORT_REST_SECONDS", "HardenedCall", "HardenedPhone"]

log = logging.getLogger(__name__)

# Told when an INVITE arrives that we cannot answer (no usable SDP, no free RTP port): the
# household still pressed its key, so the service opens the incident anyway.
UnanswerableHook = Callable[[CallerId, str], None]  # (who called, why it was not answered)


# Our 200 to an INVITE is re-sent at T1, 2·T1, … up to T2 until the ACK comes; 64·T1 without one ends
# the call (RFC 3261 13.3.1.4 and timer H).
ANSWER_T1 = 0.5
ANSWER_T2 = 4.0
ACK_TIMEOUT = 64 * ANSWER_T1
RTP_BIND_ATTEMPTS = 5


class HardenedCall(VoIPCall):
    """A call whose every end is observable: ringing, answered, final response code, hung up."""

    phone: HardenedPhone
    sip: HardenedSIPClient
    RTPClients: list[HardenedRTPClient]  # type: ignore[assignment]

    def __init__(self, *args: Any, number: str = "", sip: HardenedSIPClient | None = None,
                 offer_socket: socket.socket | None = None, trust: CallerTrust = CallerTrust.UNVERIFIED,
                 source: str = "", **kwargs: Any) -> None:
        self.digits: queue.Queue[str] = queue.Queue()
        # Our INVITE's RTP port, bound before the INVITE left (RFC 3264, section 5: ready to receive
        # what we offer; no other program can take the port the offer names). What reaches it before
        # we have read the answer is discarded when the call starts (HardenedRTPClient.start): until
        # the answer's SDP names the far end, no source can be trusted, so no early key counts.
        self.offer_socket = offer_socket
        self.changed = threading.Condition()
        self.ringing = False
        self.final_code: int | None = None  # the final response to our INVITE, when not 2xx
        self.final_reason = ""
        self.number = number
        self.trust = trust  # an inbound call: how far the edge verified ``number`` (callcenter/sip/trust.py)
        self.source = source  # an inbound call: the address it came from, as the edge saw it
        self._answer_text = ""
        self._reoffer: tuple[tuple[str, str], str] | None = None  # the last re-INVITE's (From-tag, CSeq) and answer
        self._sdp_version = 0  # our SDP's o= version: one more for each answer that may differ (RFC 3264 8)
        self._released = False
        self.acked = threading.Event()  # the caller's ACK for our 200 arrived
        super().__init__(*args, **kwargs)
        if sip is not None:  # an alert call: its dialog lives on the phone's alert socket
            self.sip = sip

    def __del__(self) -> None:
        """pyVoIP releases ports again here (and fails); ours are released once when the call ends."""

    # -- media ---------------------------------------------------------------------------------
    def create_rtp_clients(
        self, codecs: dict[int, PayloadType], ip: str, port: int, request: SIPMessage, baseport: int
    ) -> None:
        for index in range(len(request.body["c"])):
            bound = self.offer_socket if index == 0 and self.offer_socket is not None else None
            client = HardenedRTPClient(
                codecs, ip, port, request.body["c"][index]["address"], baseport + index, self.sendmode,
                dtmf=self.dtmf_callback, sock=bound,
            )
            client.apply_remote(request.body["c"][index]["address"], baseport + index, request.body)
            self.RTPClients.append(client)

    def gen_ms(self) -> dict[int, dict[int, PayloadType]]:
        """Open the RTP sockets of an inbound call; a port someone else holds is swapped for a free one
        (the answer's SDP is built after this, so it names the port actually bound)."""
        media = {}
        for client in self.RTPClients:
            client.inPort, client.bound = self.phone.bind_rtp(client.inPort)
            client.start()
            media[client.inPort] = client.assoc
        return media

    def renegotiate(self, request: SIPMessage) -> None:
        """A re-INVITE on a live call (RFC 3264 section 8): hold (sendonly/inactive) or resume, a new
        address or port, a new codec list, applied to the running media; answered with the matching
        direction on the ports we already have. pyVoIP re-opens its RTP sockets here, which fails on
        the ports it holds."""
        audio = next((m for m in request.body.get("m", []) if m.get("type") == "audio"), None)
        assoc = sdp.answer_assoc(audio, tuple(sdp.G711)) if audio and sipmsg.has_usable_sdp(request) else {}
        if not any(payload in sdp.G711 for payload in assoc.values()):
            self._reply_reoffer(request, sipmsg.response(request, 488, "Not Acceptable Here",
                                                           self.sip.tagLibrary.get(self.call_id, "")))
            return
        assert audio is not None
        for client in self.RTPClients:
            client.set_codecs(assoc)
            client.apply_remote(request.body["c"][0]["address"], audio["port"], request.body)
        media = {client.inPort: client.assoc for client in self.RTPClients}
        direction = sdp.answer_direction(sdp.direction_of(request.body))
        self._reply_reoffer(request, self._answer_for(request, media, direction))
        log.info("call with %s re-negotiated: %s, %s to %s:%s", mask_phone(self.number), direction,
                 self.RTPClients[0].preference if self.RTPClients else "-", request.body["c"][0]["address"],
                 audio["port"])

    def _reply_reoffer(self, request: SIPMessage, text: str) -> None:
        self._reoffer = (_offer_key(request), text)
        self.sip.reply(request, text)

    def is_retransmission(self, request: SIPMessage) -> bool:
        """An INVITE we answered already: the first one (our 200 lost) or the last re-INVITE."""
        key = _offer_key(request)
        return key == _offer_key(self.request) or (self._reoffer is not None and self._reoffer[0] == key)

    def resend_answer_to(self, request: SIPMessage) -> None:
        if self._reoffer is not None and self._reoffer[0] == _offer_key(request):
            self.sip.reply(request, self._reoffer[1])
        else:
            self.resend_answer()

    def _answer_for(self, request: SIPMessage, media: dict[int, Any], direction: Any) -> str:
        """pyVoIP's 200 with SDP, the o= version counting our answers (RFC 3264 section 8)."""
        self._sdp_version += 1
        text = self.sip.gen_answer(request, self.session_id, media, direction)
        return sipmsg.with_sdp_version(text, int(self.session_id) + 1 + self._sdp_version)

    def dtmf_callback(self, code: str) -> None:
        self.digits.put(code)
        self._notify()  # a flow waiting for a key wakes at once, not at its next poll

    # -- state ---------------------------------------------------------------------------------
    def answer(self) -> None:
        """Answer a ringing inbound call; the 200 is kept for retransmitted INVITEs."""
        if self.state != CallState.RINGING:
            return
        try:
            media = self.gen_ms()
        except (OSError, NoPortsAvailableError) as exc:  # the incident is open already; the phone may retry
            log.warning("no RTP port to answer %s: %s", self.number, exc)
            tag = self.sip.tagLibrary.get(self.call_id, "")
            self.sip.reply(self.request, sipmsg.response(self.request, 503, "Service Unavailable", tag))
            self._end()
            return
        direction = sdp.answer_direction(sdp.direction_of(self.request.body))
        message = self._answer_for(self.request, media, direction)
        self._answer_text = message
        with self.changed:  # answered before the 200 leaves: a BYE right behind it must find the call up
            if self.state != CallState.RINGING:  # cancelled while the RTP sockets opened
                self._stop_rtp()
                return
            self.state = CallState.ANSWERED
            self.changed.notify_all()
        self.sip.reply(self.request, message)
        threading.Thread(target=self._await_ack, name=f"ack-{self.number}", daemon=True).start()

    def _await_ack(self) -> None:
        """Re-send our 200 until the ACK comes (RFC 3261 13.3.1.4); without one in 32 s the caller is
        gone (or never was: a forged INVITE), so hang up rather than hold an RTP port for ever."""
        interval, deadline = ANSWER_T1, time.monotonic() + ACK_TIMEOUT
        while not self.acked.wait(interval):
            if self.state != CallState.ANSWERED:
                return
            if time.monotonic() >= deadline:
                log.warning("no ACK for our 200 from %s in %.0f s: hanging up", self.number, ACK_TIMEOUT)
                self.hangup()
                return
            self.resend_answer()
            interval = min(interval * 2, ANSWER_T2)

    def resend_answer(self) -> None:
        if self._answer_text:
            self.sip.reply(self.request, self._answer_text)

    def answered(self, response: SIPMessage) -> None:
        """The 200 to our INVITE: media set up with the answer's codec (its first G.711 one among those we
        offered: encoded so from the first prompt on). pyVoIP takes the answer's first payload type,
        even telephone-event, and fails on any it does not know."""
        if self.state != CallState.DIALING:
            return
        audio = next((m for m in response.body.get("m", []) if m.get("type") == "audio"), None)
        if audio is None or not response.body.get("c"):
            raise sdp.NoCommonCodec("the answer has no audio stream")
        media: dict[str, PayloadType] = self.ms[self.port]  # type: ignore[assignment]  # pyVoIP mistypes it
        offered = [p for p in media.values() if p in sdp.G711]
        assoc = sdp.answer_assoc(audio, offered)
        sdp.audio_codec(assoc)  # NoCommonCodec: the answer names none of the codecs we offered
        self.create_rtp_clients(assoc, self.myIP, self.port, response, audio["port"])
        for client in self.RTPClients:
            client.start()
        self.request.headers["Contact"] = response.headers["Contact"]
        self.request.headers["To"]["tag"] = response.headers["To"]["tag"]
        self.state = CallState.ANSWERED
        self._notify()

    @property
    def codec(self) -> PayloadType | None:
        """The codec our RTP is encoded with (None before the media is set up)."""
        return self.RTPClients[0].preference if self.RTPClients else None

    def mark_ringing(self) -> None:
        with self.changed:
            self.ringing = True
            self.changed.notify_all()

    def finish(self, code: int, reason: str) -> None:
        """A final non-2xx response to our INVITE (busy, unavailable, declined, cancelled...)."""
        with self.changed:
            self.final_code, self.final_reason = code, reason
        self._end()

    def bye(self) -> None:
        self._end()

    def hangup(self) -> None:
        """End the call in whatever state it is: CANCEL when dialing, 486 when ringing here, BYE when up."""
        state = self.state
        if state == CallState.DIALING:
            self.sip.cancel(self.call_id)  # the 487 that follows ends the call
        elif state == CallState.RINGING:
            tag = self.sip.tagLibrary.get(self.call_id, "")
            self.sip.reply(self.request, sipmsg.response(self.request, 486, "Busy Here", tag))
            self._end()
        elif state == CallState.ANSWERED:
            self.sip.bye(self.request)
            self._end()

    def _end(self) -> None:
        self._stop_rtp()
        self._set(CallState.ENDED)
        self.phone.forget(self)

    def _stop_rtp(self) -> None:
        for client in self.RTPClients:
            if hasattr(client, "sin"):  # opened (even if already told to stop): close it, or the fd leaks
                client.stop()
                self._record_quality(client)
            client.NSD = False
        if self.offer_socket is not None:  # never answered, or answered: closing twice is harmless
            self.offer_socket.close()

    def _record_quality(self, client: HardenedRTPClient) -> None:
        if self._released:  # a second stop of the same call: counted once
            return
        quality = client.quality()
        MEDIA_QUALITY.record(quality)
        log.info("call with %s ended: %s", mask_phone(self.number), quality.describe())

    def _set(self, state: CallState) -> None:
        with self.changed:
            if self.state != CallState.ENDED:  # ended is final: a late "answered" must not revive the call
                self.state = state
            self.changed.notify_all()

    def _notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[HardenedCall], bool], timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self), timeout)

    @property
    def is_ended(self) -> bool:
        return bool(self.state == CallState.ENDED)


class HardenedPhone(VoIPPhone):
    sip: HardenedSIPClient
    calls: dict[str, HardenedCall]  # type: ignore[assignment]

    def __init__(
        self, server: str, port: int, username: str, password: str, myIP: str = "127.0.0.1",  # noqa: N803
        callCallback: Callable[[HardenedCall], None] | None = None,  # noqa: N803
        sipPort: int = 0, rtpPortLow: int = 10000, rtpPortHigh: int = 20000,  # noqa: N803
        codecs: Sequence[PayloadType] = (PayloadType.PCMA, PayloadType.PCMU),
        on_unanswerable: UnanswerableHook | None = None,
        alert_port: int = 0, proxies: frozenset[str] = frozenset(), only_from_proxies: bool = False,
    ) -> None:
        super().__init__(server, port, username, password, myIP, None, sipPort, rtpPortLow, rtpPortHigh)
        self.callCallback = callCallback  # type: ignore[assignment]
        self.codecs = tuple(codecs)  # offered on our calls, in this order, then telephone-event
        self.refused = sdp.RefusedOffers()  # numbers whose phone answered our offer 488 lately
        self.on_unanswerable = on_unanswerable
        self.proxies = proxies  # whose X-995-Caller-Trust header counts
        self._calls_lock = threading.RLock()
        self._port_lock = threading.Lock()
        self._released_at: dict[int, float] = {}  # port -> monotonic time its call ended
        self._claims = threading.local()  # ports taken by the call being set up on this thread
        self.sip = HardenedSIPClient(
            server, port, username, password, phone=self, myIP=myIP, myPort=sipPort,
            callCallback=self.callback, fatalCallback=self.fatal,
        )
        # Calls we place get a socket of their own: in a flood the responses to hundreds of alert calls
        # would otherwise queue ahead of a household's INVITE on the one receive thread (docs/sip.md).
        self.dialer = HardenedSIPClient(
            server, port, username, password, phone=self, myIP=myIP, myPort=alert_port,
            callCallback=self.callback, fatalCallback=self.fatal, registers=False,
        )
        if only_from_proxies and proxies:  # no proxy address resolved: filtering would cut us off entirely
            self.sip.only_from = self.dialer.only_from = proxies
        elif only_from_proxies:
            log.error("sip.only_from_proxies: no proxy address resolved, so SIP is taken from anyone")

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._status = PhoneStatus.REGISTERING
        self.dialer.start()
        self.sip.start()
        self.NSD = True

    def stop(self, failed: bool = False) -> None:
        self._status = PhoneStatus.DEREGISTERING
        for call in list(self.calls.values()):
            call.hangup()
        self.dialer.stop()
        self.sip.stop()
        for call in list(self.calls.values()):  # still dialling: no 487 will come to end them now
            if call.offer_socket is not None:
                call.offer_socket.close()
        self.NSD = False
        self._status = PhoneStatus.INACTIVE

    @property
    def registration(self) -> RegistrationStatus:
        return self.sip.registration.status

    def wait_registered(self, timeout: float) -> bool:
        return bool(self.sip.registration.wait_registered(timeout))

    @property
    def sip_port(self) -> int:
        """The registered port: households' INVITEs and the registrar's traffic."""
        return int(self.sip.myPort)

    @property
    def alert_port(self) -> int:
        """The port our alert calls go out from, and their responses and in-dialog requests come to."""
        return int(self.dialer.myPort)

    @property
    def alert_contact(self) -> str:
        """host:port in our alert calls' Via: what a survivor needs to CANCEL them."""
        return f"{self.dialer.myIP}:{self.dialer.myPort}"

    def send_from_alert_socket(self, text: str) -> None:
        self.dialer._send(text)

    # -- inbound -------------------------------------------------------------------------------
    def on_invite(self, request: SIPMessage) -> None:
        existing = self.calls.get(request.headers["Call-ID"])
        if existing is not None:
            self._repeated_invite(existing, request)
            return
        caller = caller_of(request.headers, getattr(request, "source", None), self.proxies)
        number = caller.number
        if not sipmsg.has_usable_sdp(request):
            self.sip.reply(request, sipmsg.response(request, 488, "Not Acceptable Here",
                                           extra='Warning: 399 callcenter "no usable SDP offer"\r\n'))
            self._unanswerable(caller, "INVITE without usable SDP")
            return
        if self.callCallback is None:
            self.sip.reply(request, sipmsg.response(request, 486, "Busy Here"))
            return
        self.sip.reply(request, self.sip.gen_ringing(request))
        try:
            call = self._inbound_call(request, caller)
        except Exception as exc:
            self.sip.reply(request, sipmsg.response(request, 503, "Service Unavailable",
                                           self.sip.tagLibrary.get(request.headers["Call-ID"], "")))
            self._unanswerable(caller, f"cannot set up the call: {exc}")
            return
        # Defect a: pyVoIP waits in a 1 s Timer before the callback; ours runs at once.
        threading.Thread(target=self.callCallback, args=(call,), name=f"call-{number}", daemon=True).start()

    def _inbound_call(self, request: SIPMessage, caller: Caller) -> HardenedCall:
        self._claims.ports = []
        try:
            call = HardenedCall(self, CallState.RINGING, request, random.randint(1, 10**9), self.myIP,
                                sendmode=self.recvmode, number=caller.number, trust=caller.trust,
                                source=caller.source)
        except Exception:  # pyVoIP may fail after taking an RTP port: give it back, or the range leaks away
            self._give_back(self._claims.ports)
            raise
        finally:
            self._claims.ports = None
        with self._calls_lock:
            self.calls[call.call_id] = call
        return call

    def _repeated_invite(self, call: HardenedCall, request: SIPMessage) -> None:
        if call.is_retransmission(request):
            call.resend_answer_to(request)  # our 200 was lost
        elif call.state == CallState.ANSWERED:
            call.renegotiate(request)

    def _unanswerable(self, caller: Caller, reason: str) -> None:
        log.warning("INVITE from %s (%s) not answered: %s", mask_phone(caller.number), caller.trust, reason)
        if self.on_unanswerable is not None:
            self.on_unanswerable(caller.id, reason)

    def on_ack(self, request: SIPMessage) -> None:
        call = self.calls.get(request.headers["Call-ID"])
        if call is not None:
            call.acked.set()

    def on_bye(self, request: SIPMessage) -> None:
        call = self.calls.get(request.headers["Call-ID"])
        if call is not None:
            call.bye()

    def on_cancel(self, request: SIPMessage) -> None:
        call = self.calls.get(request.headers["Call-ID"])
        if call is None or call.state != CallState.RINGING:
            return
        tag = self.sip.tagLibrary.get(call.call_id, "")
        self.sip.reply(call.request, sipmsg.response(call.request, 487, "Request Terminated", tag))
        call.bye()

    # -- outbound ------------------------------------------------------------------------------
    def call(self, number: str, dialog: DialogIds | None = None) -> HardenedCall:
        """INVITE ``number`` at the registrar and return at once with the call DIALING; ``dialog``: the
        INVITE's identifiers, when another instance may have to CANCEL it (callcenter/sip/orphans.py).
        The INVITE offers every codec in ``codecs``; a number whose phone refused that offer with 488
        lately is not dialled again with it (``sdp.OfferRefused``)."""
        self.refused.check(number, self.codecs, time.monotonic())
        port, sock = self.bind_rtp(self.request_port())
        medias: dict[int, dict[str, Any]] = dict(sdp.offer_media(port, self.codecs))
        # Held while the INVITE goes out so its 180/200 (read on the receive thread) find the call.
        with self._calls_lock:
            try:
                request, call_id, sess_id = self.dialer.invite(number, medias, TransmitType.SENDRECV, dialog)
            except BaseException:
                sock.close()
                self._give_back([port])  # no call holds it
                raise
            call = HardenedCall(self, CallState.DIALING, request, sess_id, self.myIP, ms=medias,
                                sendmode=self.sendmode, number=number, sip=self.dialer, offer_socket=sock)
            self.calls[call_id] = call
        return call

    def on_invite_response(self, response: SIPMessage, client: HardenedSIPClient) -> None:
        """A response to one of our INVITEs, read by ``client`` (the socket the INVITE left from)."""
        code = int(response.status)
        with self._calls_lock:
            call = self.calls.get(response.headers["Call-ID"])
        if code < 200:
            if call is not None and code in (180, 183):
                call.mark_ringing()
            return
        client._send(client.gen_ack(response))  # defect e: every final response is ACKed
        if call is None:
            return
        if code == 488:
            self.refused.note(call.number, self.codecs, time.monotonic())
            call.finish(code, sdp.refusal_detail(str(response.status.phrase), self.codecs))
        elif code >= 300:
            call.finish(code, str(response.status.phrase))
        elif call.state == CallState.DIALING:
            self._connect(call, response)

    def bind_rtp(self, port: int) -> tuple[int, socket.socket]:
        """A socket bound to ``port``, taken from the range; a port another program holds is swapped
        for a free one (it then rests). The port actually bound is returned with it; when none can
        be bound, every port tried is given back."""
        for _ in range(RTP_BIND_ATTEMPTS - 1):
            try:
                return port, open_rtp_socket(self.myIP, port)
            except OSError as exc:
                log.info("RTP port %d busy (%s), taking another", port, exc)
                port = self.swap_port(port)
        try:
            return port, open_rtp_socket(self.myIP, port)
        except BaseException:
            self._give_back([port])
            raise

    def _connect(self, call: HardenedCall, response: SIPMessage) -> None:
        try:
            call.answered(response)
        except Exception as exc:  # an answer we cannot use: hang up rather than leave it open
            log.warning("unusable answer from %s: %s", mask_phone(call.number), exc)
            if isinstance(exc, sdp.NoCommonCodec):
                self.refused.note(call.number, self.codecs, time.monotonic())
            with call.changed:  # the reason first: whoever waits on the call reads it once it ends
                call.final_code, call.final_reason = 488, f"unusable SDP answer: {exc}"
            call.state = CallState.ANSWERED
            call.hangup()

    # -- bookkeeping ---------------------------------------------------------------------------
    def forget(self, call: HardenedCall) -> None:
        with self._calls_lock:
            if self.calls.get(call.call_id) is call:
                del self.calls[call.call_id]
            if not call._released:
                call._released = True
                # pyVoIP records an inbound call's RTP port only on its RTP client, not in assignedPorts.
                self._give_back(set(call.assignedPorts) | {client.inPort for client in call.RTPClients})
        call.sip.forget(call.call_id)

    def swap_port(self, busy: int) -> int:
        """A fresh RTP port in place of ``busy`` (bound by another socket), which then rests."""
        port = self.request_port()
        self._give_back([busy])
        return port

    def _give_back(self, ports: Iterable[int]) -> None:
        with self._port_lock:
            for port in ports:
                for taken in (port, port + 1):  # an RTP port and its RTCP port go together
                    if taken in self.assignedPorts:
                        self.assignedPorts.remove(taken)
                        self._released_at[taken] = time.monotonic()

    def request_port(self, blocking: bool = True) -> int:
        """An even RTP port of the range whose next port (its RTCP, RFC 3550) is free too; both taken."""
        with self._port_lock:
            taken = set(self.assignedPorts)
            free = [p for p in range(self.rtpPortLow + self.rtpPortLow % 2, self.rtpPortHigh, 2)
                    if p not in taken and p + 1 not in taken]
            if not free:
                raise NoPortsAvailableError(f"all RTP/RTCP port pairs {self.rtpPortLow}-{self.rtpPortHigh} in use")
            port = random.choice(_rested(free, self._released_at, time.monotonic()))
            self.assignedPorts += [port, port + 1]
        claims = getattr(self._claims, "ports", None)
        if claims is not None:
            claims.append(port)
        return port


def _offer_key(request: SIPMessage) -> tuple[str, str]:
    """An INVITE's From-tag and CSeq number: a retransmission repeats both (a re-INVITE from the far
    end of our own call carries its tag, not ours, so never matches our INVITE)."""
    return str(request.headers["From"].get("tag", "")), str(request.headers["CSeq"]["check"])


# A released port's socket is closed by its RTP thread a little after the call ends; handing the
# port out again before that fails the next call with EADDRINUSE. Rested ports go first.
PORT_REST_SECONDS = 5.0


def _rested(free: list[int], released_at: dict[int, float], now: float) -> list[int]:
    """The free ports not released within PORT_REST_SECONDS, or all free ones when none has rested."""
    rested = [p for p in free if now - released_at.get(p, float("-inf")) >= PORT_REST_SECONDS]
    return rested or free

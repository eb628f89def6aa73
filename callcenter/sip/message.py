"""SIP messages: pyVoIP's parser accepting every method we answer, and responses built from requests."""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Callable
from typing import Any

import pyVoIP.VoIP  # noqa: F401  (pyVoIP.SIP cannot be imported first: circular import inside pyVoIP)
from pyVoIP.SIP import SIPMessage

from callcenter.sip.wire import TOKEN

__all__ = [
    "ACCEPTED_METHODS", "ALLOW", "MAX_MESSAGE_BYTES", "SipMessage", "call_id_of", "has_usable_sdp", "new_branch",
    "new_tag", "parse_address", "response", "via_lines", "with_allow", "with_sdp_version",
]

# pyVoIP parses only INVITE, ACK, BYE and CANCEL and drops anything else unanswered (an OPTIONS
# keep-alive then looks like a dead phone). Our parser accepts these; unknown ones get 501.
ACCEPTED_METHODS = [
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "NOTIFY", "INFO", "MESSAGE",
    "SUBSCRIBE", "REFER", "UPDATE", "PRACK", "REGISTER", "PUBLISH",
]
# Every method a request handler answers (HardenedSIPClient._request_handlers; a unit test keeps them equal).
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY"
_ALLOW_LINE = re.compile(r"^Allow: [^\r\n]*\r\n", re.MULTILINE)
MAX_MESSAGE_BYTES = 8192


class _AnyToken:
    """Every token is a method name to the parser: unknown ones are answered 501, not dropped."""

    def __contains__(self, method: object) -> bool:
        return isinstance(method, str) and bool(TOKEN.fullmatch(method))


class SipMessage(SIPMessage):
    """pyVoIP's message parser made safe for text tidied by :func:`callcenter.sip.wire.tidy`.

    Any method token is accepted, the body may hold blank lines, header values may hold ": ", From/To
    may use any URI scheme, and a broken SDP line marks the offer unusable instead of raising.
    """

    source: tuple[str, int] | None = None  # where the datagram came from: responses go back there
    sdp_errors = 0

    def parse(self, data: bytes) -> None:
        self.SIPCompatibleMethods = _AnyToken()  # type: ignore[assignment]
        super().parse(data)

    def parse_sip_message(self, data: bytes) -> None:
        super().parse_sip_message(_one_blank_line(data))

    def parse_sip_response(self, data: bytes) -> None:
        super().parse_sip_response(_one_blank_line(data))

    @staticmethod
    def parse_raw_header(headers_raw: list[bytes], handle: Callable[[str, str], None]) -> None:
        headers: dict[str, Any] = {"Via": []}
        for line in headers_raw:
            name, _, value = str(line, "utf8").partition(": ")
            if name == "Via":
                headers["Via"].append(value)
            headers.setdefault(name, value)  # first occurrence wins, as in pyVoIP
        for name, value in headers.items():
            handle(name, value)

    def parse_header(self, header: str, data: str) -> None:
        if header in ("From", "To"):
            self.headers[header] = parse_address(data)
        else:
            super().parse_header(header, data)

    def parse_raw_body(self, body: bytes, handle: Callable[[str, str], None]) -> None:  # type: ignore[override]
        content_type = str(self.headers.get("Content-Type", "")).split(";")[0].strip().lower()
        if not body or content_type != "application/sdp":
            return
        for line in body.decode("utf8", errors="replace").split("\r\n"):
            key, equals, value = line.partition("=")
            try:
                handle(key, value) if equals else None
            except Exception:  # a broken SDP line: the offer is unusable (488), the message is still answered
                self.sdp_errors += 1


def _one_blank_line(data: bytes) -> bytes:
    """pyVoIP splits on every blank line and expects two parts; a body may hold more blank lines."""
    head, _, body = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n" + body.replace(b"\r\n\r\n", b"\r\n \r\n")


def parse_address(value: str) -> dict[str, Any]:
    """A From/To value as pyVoIP's dict (raw, tag, address, number, caller, host), for any URI scheme."""
    tag_match = re.search(r";\s*tag\s*=\s*([^;\s]+)", value, re.IGNORECASE)
    raw = (value[:tag_match.start()] + value[tag_match.end():]) if tag_match else value
    bracketed = re.search(r"<([^>]*)>", raw)
    uri = bracketed.group(1) if bracketed else raw.split(";")[0].strip()
    caller = raw[:bracketed.start()].strip().strip('"') if bracketed else ""
    address = uri.split(":", 1)[1] if ":" in uri else uri
    user, at, host = address.partition("@")
    number = user.split(";")[0] if at else None
    if uri.lower().startswith("tel:"):
        number = address.split(";")[0]
    return {"raw": raw.strip(), "tag": tag_match.group(1) if tag_match else "", "address": address,
            "number": number, "caller": caller, "host": host if at else address}


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(12)


def new_tag() -> str:
    return secrets.token_hex(6)


def call_id_of(text: str) -> str:
    found = re.search(r"^Call-ID: *(.+?)\r$", text, re.MULTILINE)
    return found.group(1) if found else ""


def via_lines(request: SIPMessage) -> str:
    lines = []
    for via in request.headers["Via"]:
        line = f"Via: {via['type']} {via['address'][0]}:{via['address'][1]}"
        for key, value in via.items():
            if key not in ("type", "address"):
                line += f";{key}" if value is None else f";{key}={value}"
        lines.append(line + "\r\n")
    return "".join(lines)


def response(request: SIPMessage, code: int, reason: str, to_tag: str = "", extra: str = "") -> str:
    """A body-less response to ``request``; ``to_tag`` is ours for the dialog (kept if the request had one)."""
    to_tag = request.headers["To"]["tag"] or to_tag or new_tag()
    cseq = request.headers["CSeq"]
    return (
        f"SIP/2.0 {code} {reason}\r\n"
        + via_lines(request)
        + f"From: {request.headers['From']['raw']};tag={request.headers['From']['tag']}\r\n"
        + f"To: {request.headers['To']['raw']};tag={to_tag}\r\n"
        + f"Call-ID: {request.headers['Call-ID']}\r\n"
        + f"CSeq: {cseq['check']} {cseq['method']}\r\n"
        + f"Allow: {ALLOW}\r\n"
        + extra
        + "Content-Length: 0\r\n\r\n"
    )


def has_usable_sdp(request: SIPMessage) -> bool:
    """An offer we can answer: one unicast IPv4 connection address and one audio stream with PCMU or
    PCMA on a real port; anything else would make pyVoIP fail half-way through setting up the call."""
    body = request.body
    if getattr(request, "sdp_errors", 0) or len(body.get("c") or []) != 1 or not body.get("m"):
        return False
    audio = [media for media in body["m"] if media.get("type") == "audio"]
    return (_unicast(body["c"][0]) and len(audio) == 1 and all(media.get("type") in ("audio", "video")
            and _playable(media) for media in body["m"]) and bool({"0", "8"} & set(audio[0]["methods"])))


def _unicast(connection: dict[str, Any]) -> bool:
    try:
        address = ipaddress.IPv4Address(connection.get("address", ""))
    except ValueError:
        return False
    return connection.get("address_count") == 1 and not (address.is_multicast or address.is_unspecified
                                                         or address == ipaddress.IPv4Address("255.255.255.255"))


def _playable(media: dict[str, Any]) -> bool:
    methods = media.get("methods", [])
    return (0 < int(media.get("port", 0)) < 65536 and media.get("port_count") == 1 and bool(methods)
            and all(m.isdigit() and int(m) < 128 for m in methods))


def with_allow(text: str) -> str:
    """pyVoIP's message with our ``Allow`` (pyVoIP lists only INVITE, ACK, BYE, CANCEL)."""
    return _ALLOW_LINE.sub(lambda _m: f"Allow: {ALLOW}\r\n", text, count=1)


def with_sdp_version(text: str, version: int) -> str:
    """pyVoIP's message with its SDP's o= version set (RFC 3264 section 8: it grows with each new
    offer or answer) and Content-Length matching the body again."""
    head, _, body = text.partition("\r\n\r\n")
    body = re.sub(r"^(o=\S+ \S+ )\d+", lambda m: f"{m.group(1)}{version}", body, count=1, flags=re.MULTILINE)
    head = re.sub(r"^Content-Length: *\d+", f"Content-Length: {len(body.encode())}", head, count=1,
                  flags=re.MULTILINE)
    return f"{head}\r\n\r\n{body}"

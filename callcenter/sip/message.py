"""SIP messages: pyVoIP's parser accepting every method we answer, and responses built from requests."""

from __future__ import annotations

import re
import secrets

import pyVoIP.VoIP  # noqa: F401  (pyVoIP.SIP cannot be imported first: circular import inside pyVoIP)
from pyVoIP.SIP import SIPMessage

# pyVoIP parses only INVITE, ACK, BYE and CANCEL and drops anything else unanswered (an OPTIONS
# keep-alive then looks like a dead phone). Our parser accepts these; unknown ones get 501.
ACCEPTED_METHODS = [
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "NOTIFY", "INFO", "MESSAGE",
    "SUBSCRIBE", "REFER", "UPDATE", "PRACK", "REGISTER", "PUBLISH",
]
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, NOTIFY"
MAX_MESSAGE_BYTES = 8192


class SipMessage(SIPMessage):
    """pyVoIP's message parser with the wider method list (per instance, the module global is untouched)."""

    def parse(self, data: bytes) -> None:
        self.SIPCompatibleMethods = ACCEPTED_METHODS
        super().parse(data)


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
        line = f"Via: SIP/2.0/UDP {via['address'][0]}:{via['address'][1]}"
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
    """An offer we can answer: a connection address and an audio stream with PCMU or PCMA."""
    body = request.body
    if not body.get("c") or not body.get("m"):
        return False
    return any(media.get("type") == "audio" and {"0", "8"} & set(media.get("methods", [])) for media in body["m"])

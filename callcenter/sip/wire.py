"""Hostile and broken SIP input: every datagram is checked and tidied before pyVoIP's parser sees it.

pyVoIP's parser expects tidy text: one blank line, ``Name: value`` with one space, full header
names, no folded lines. RFC 3261 allows more (compact names, any case, whitespace around the colon,
folded lines, extra bytes after Content-Length on UDP) and the network sends worse. ``tidy`` turns a
datagram into either text pyVoIP parses safely, or a :class:`Malformed` naming the answer it deserves
(400, 416, 505) or none (``code == 0``: dropped, e.g. a broken response or a request without Via).
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "ADDR_SPEC",
    "ANSWER_COPIES",
    "CANONICAL",
    "COMPACT",
    "CSEQ",
    "FORBIDDEN",
    "MAX_CSEQ",
    "MAX_FORWARDS",
    "NAME_ADDR",
    "QUOTED",
    "REASONS",
    "REQUIRED",
    "RESPONSE_LINE",
    "SINGLE",
    "TOKEN",
    "TOKEN_CHARS",
    "URI_SCHEMES",
    "VALUE_CHECKS",
    "VERSION",
    "VIA",
    "CheckValue",
    "Malformed",
    "answer",
    "tidy",
]

TOKEN_CHARS = r"A-Za-z0-9\-.!%*_+`'~"
TOKEN = re.compile(f"[{TOKEN_CHARS}]+")
COMPACT = {
    "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length", "c": "Content-Type",
    "f": "From", "s": "Subject", "k": "Supported", "t": "To", "v": "Via", "o": "Event", "u": "Allow-Events",
}
CANONICAL = {name.lower(): name for name in (
    "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Content-Length", "Content-Type", "Content-Encoding",
    "Max-Forwards", "Allow", "Supported", "Require", "Proxy-Require", "WWW-Authenticate", "Authorization",
    "Expires", "Accept", "Event", "Subject", "Route", "Record-Route",
)}
SINGLE = ("From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type")
REQUIRED = ("From", "To", "Call-ID", "CSeq")
ANSWER_COPIES = ("Via", "From", "To", "Call-ID", "CSeq")  # RFC 3261 8.2.6.2
URI_SCHEMES = ("sip", "sips", "tel")
MAX_CSEQ = 2**31 - 1
MAX_FORWARDS = 255

VIA = re.compile(rf"SIP\s*/\s*2\.0\s*/\s*([{TOKEN_CHARS}]+)\s+([^\s;,]+)\s*((?:;[^,]*)?)$", re.IGNORECASE)
CSEQ = re.compile(rf"(\d{{1,10}})\s+([{TOKEN_CHARS}]+)$")
RESPONSE_LINE = re.compile(r"SIP/2\.0 ([1-6]\d\d)(?: (.*))?$")
VERSION = re.compile(r"SIP/\d+\.\d+$", re.IGNORECASE)
QUOTED = r'"(?:[^"\\]|\\.)*"'
NAME_ADDR = re.compile(rf"(?:{QUOTED}|[{TOKEN_CHARS} \t]*)\s*<([^<>\s]+)>\s*((?:;.*)?)$")
ADDR_SPEC = re.compile(r"([^\s<>;\"]+)\s*((?:;.*)?)$")
FORBIDDEN = re.compile(r"[\r\n\x00]")  # bare CR/LF or NUL inside a line

CheckValue = Callable[[str, "str | None"], list[str]]


@dataclass
class Malformed(Exception):
    """A datagram we do not process. ``code`` is the answer it deserves, 0 for none."""

    code: int
    reason: str
    answer_headers: list[str] = field(default_factory=list)  # tidy Via/From/To/Call-ID/CSeq lines

    def __str__(self) -> str:
        return f"{self.code or 'dropped'}: {self.reason}"


@dataclass
class _Head:
    start: str
    fields: list[tuple[str, str]]


def tidy(raw: bytes) -> bytes:
    """The datagram as tidy SIP text, or raise :class:`Malformed`."""
    head_bytes, separator, body = raw.partition(b"\r\n\r\n")
    try:
        head_text = head_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Malformed(0, "header bytes are not UTF-8") from exc
    head = _split_head(head_text)
    if RESPONSE_LINE.match(head.start) or head.start.startswith("SIP/"):
        return _tidy_response(head, separator, body)
    return _tidy_request(head, separator, body)


def _split_head(text: str) -> _Head:
    lines: list[str] = []
    for line in text.split("\r\n"):
        if line[:1] in (" ", "\t") and len(lines) > 1:
            lines[-1] += " " + line.strip()  # folded header line (RFC 3261 7.3.1)
        else:
            lines.append(line)
    fields: list[tuple[str, str]] = []
    for line in lines[1:]:
        if FORBIDDEN.search(line):
            fields.append(("", ""))
            continue
        name, colon, value = line.partition(":")
        fields.append((_header_name(name) if colon else "", value.strip()))
    return _Head(lines[0], fields)


def _header_name(name: str) -> str:
    name = name.rstrip(" \t")
    if not TOKEN.fullmatch(name):
        return ""
    return COMPACT.get(name.lower()) or CANONICAL.get(name.lower(), name)


def _tidy_response(head: _Head, separator: bytes, body: bytes) -> bytes:
    matched = RESPONSE_LINE.match(head.start)
    if not matched or not separator:
        raise Malformed(0, f"bad status line {head.start[:60]!r}")
    try:
        lines = _tidy_fields(head.fields, method=None)
    except Malformed as exc:
        raise Malformed(0, exc.reason) from exc
    return _assemble(f"SIP/2.0 {matched.group(1)} {matched.group(2) or ''}".rstrip(), lines, body)


def _tidy_request(head: _Head, separator: bytes, body: bytes) -> bytes:
    answer = _answer_headers(head.fields)
    if not any(line.startswith("Via:") for line in answer):
        raise Malformed(0, f"request without a usable Via: {head.start[:60]!r}")
    try:
        method = _check_request_line(head.start)
        if not separator:
            raise Malformed(400, "no blank line after the headers")
        lines = _tidy_fields(head.fields, method)
        body = _body_by_length(lines, body)
    except Malformed as exc:
        raise Malformed(exc.code, exc.reason, answer) from exc
    return _assemble(head.start, lines, body)


def _check_request_line(start: str) -> str:
    parts = start.split(" ")
    if len(parts) != 3 or not all(parts):
        if len(parts) >= 3 and VERSION.match(parts[-1]) and parts[-1] != "SIP/2.0":
            raise Malformed(505, "Version Not Supported")
        raise Malformed(400, "request line is not 'METHOD URI SIP/2.0' with single spaces")
    method, uri, version = parts
    if FORBIDDEN.search(start):
        raise Malformed(400, "control characters in the request line")
    if version != "SIP/2.0":
        raise Malformed(505 if VERSION.match(version) else 400, f"version {version[:20]!r}")
    if not TOKEN.fullmatch(method):
        raise Malformed(400, "method is not a token")
    scheme, colon, _ = uri.partition(":")
    if not colon or uri.startswith("<"):
        raise Malformed(400, "Request-URI is not a URI")
    if "?" in uri and scheme.lower() in ("sip", "sips"):
        raise Malformed(400, "headers in the Request-URI")
    if scheme.lower() not in URI_SCHEMES:
        raise Malformed(416, f"URI scheme {scheme[:20]!r}")
    return method


def _tidy_fields(fields: list[tuple[str, str]], method: str | None) -> list[str]:
    lines: list[str] = []
    seen: set[str] = set()
    for name, value in fields:
        if not name:
            raise Malformed(400, "header line without a valid name and colon")
        if name in SINGLE and name in seen:
            raise Malformed(400, f"{name} appears twice")
        seen.add(name)
        lines += [f"{name}: {v}" for v in _check_value(name, value, method)]
    missing = [name for name in (*REQUIRED, "Via") if name not in seen]
    if missing:
        raise Malformed(400, f"missing {', '.join(missing)}")
    return lines


def _check_value(name: str, value: str, method: str | None) -> list[str]:
    check = VALUE_CHECKS.get(name)
    return check(value, method) if check else [value]


def _via(value: str, _method: str | None) -> list[str]:
    vias = []
    for element in value.split(","):
        matched = VIA.match(element.strip())
        if not matched:
            raise Malformed(400, f"bad Via {element.strip()[:60]!r}")
        transport, sent_by, params = matched.groups()
        vias.append(f"SIP/2.0/{transport.upper()} {sent_by}" + re.sub(r"[ \t]", "", params))
    return vias


def _cseq(value: str, method: str | None) -> list[str]:
    matched = CSEQ.match(value)
    if not matched or int(matched.group(1)) > MAX_CSEQ:
        raise Malformed(400, f"bad CSeq {value[:40]!r}")
    if method is not None and matched.group(2) != method:
        raise Malformed(400, "CSeq method differs from the request method")
    return [f"{int(matched.group(1))} {matched.group(2)}"]


def _bounded_number(limit: int) -> CheckValue:
    def check(value: str, _method: str | None) -> list[str]:
        if not value.isascii() or not value.isdigit() or len(value) > 10 or int(value) > limit:
            raise Malformed(400, f"bad number {value[:20]!r}")
        return [str(int(value))]
    return check


def _address(value: str, _method: str | None) -> list[str]:
    if not (NAME_ADDR.match(value) or ADDR_SPEC.match(value)):
        raise Malformed(400, f"bad address {value[:60]!r}")
    return [value]


def _call_id(value: str, _method: str | None) -> list[str]:
    if not value or any(c.isspace() for c in value):
        raise Malformed(400, "bad Call-ID")
    return [value]


def _body_by_length(lines: list[str], body: bytes) -> bytes:
    """UDP: bytes after Content-Length are ignored; fewer bytes than it claims is an error (RFC 3261 18.3)."""
    declared = next((int(line.split(": ", 1)[1]) for line in lines if line.startswith("Content-Length:")), None)
    if declared is None:
        return body
    if declared > len(body):
        raise Malformed(400, f"Content-Length {declared} but {len(body)} body bytes")
    return body[:declared]


def _answer_headers(fields: list[tuple[str, str]]) -> list[str]:
    """The header lines a 4xx copies, as far as they are readable (RFC 3261 8.2.6.2)."""
    lines: list[str] = []
    for name, value in fields:
        if name not in ANSWER_COPIES or (name != "Via" and any(line.startswith(f"{name}:") for line in lines)):
            continue
        if name == "Via":
            value = value.split(",")[0]  # the top Via is where the answer goes
        try:
            lines += [f"{name}: {v}" for v in _check_value(name, value, None)]
        except Malformed:
            continue
    return lines


def _assemble(start: str, lines: list[str], body: bytes) -> bytes:
    lines = [line for line in lines if not line.startswith("Content-Length:")]
    head = "\r\n".join([start, *lines, f"Content-Length: {len(body)}"])
    return head.encode("utf-8") + b"\r\n\r\n" + body


def answer(malformed: Malformed) -> bytes | None:
    """The response a rejected request gets, or None when it deserves none or cannot be addressed."""
    headers = malformed.answer_headers
    if not malformed.code or not any(h.startswith("Via:") for h in headers):
        return None
    reason = REASONS.get(malformed.code, "Bad Request")
    to = next((h for h in headers if h.startswith("To:")), "")
    if to and ";tag=" not in to:
        headers = [h + ";tag=malformed" if h is to else h for h in headers]
    warning = 'Warning: 399 callcenter "' + malformed.reason.replace('"', "'")[:120] + '"'
    text = "\r\n".join([f"SIP/2.0 {malformed.code} {reason}", *headers, warning, "Content-Length: 0"])
    return text.encode("utf-8", errors="replace") + b"\r\n\r\n"


REASONS = {400: "Bad Request", 416: "Unsupported URI Scheme", 505: "Version Not Supported"}

VALUE_CHECKS = {
    "Via": _via, "CSeq": _cseq, "From": _address, "To": _address, "Call-ID": _call_id,
    "Content-Length": _bounded_number(2**31), "Max-Forwards": _bounded_number(MAX_FORWARDS),
    "Expires": _bounded_number(2**32 - 1),
}

"""Seeded mutational SIP fuzzer: valid INVITE/OPTIONS/REGISTER/NOTIFY/BYE/ACK/CANCEL (and response)
templates, each sent with one to three mutations: byte flips, header deletion and duplication, huge
values, Content-Length lies, bad UTF-8 and NUL, truncation, CRLF games, random methods and versions,
SDP mutations. The same seed gives the same messages. No I/O here: callers send the bytes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

SDP = (
    "v=0\r\no=fuzz {n} {n} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {rtp} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
)
REQUEST = (
    "{method} sip:995@{host}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {host}:{local};branch=z9hG4bK{branch};rport\r\n"
    "Max-Forwards: 70\r\nFrom: \"Fuzz\" <sip:{caller}@{host}>;tag={tag}\r\nTo: <sip:995@{host}>{to_tag}\r\n"
    "Call-ID: {call_id}@{host}\r\nCSeq: {cseq} {method}\r\nContact: <sip:{caller}@{host}:{local}>\r\n"
    "User-Agent: fuzz\r\n{extra}Content-Length: {length}\r\n\r\n{body}"
)
RESPONSE = (
    "SIP/2.0 {code} {reason}\r\nVia: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{branch};rport\r\n"
    "From: <sip:995@{host}>;tag={tag}\r\nTo: <sip:{caller}@{host}>;tag={tag}x\r\nCall-ID: {call_id}@{host}\r\n"
    "CSeq: {cseq} INVITE\r\nContact: <sip:{caller}@{host}:{local}>\r\nContent-Length: 0\r\n\r\n"
)
EXTRA = {
    "INVITE": "Content-Type: application/sdp\r\nAllow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n",
    "NOTIFY": "Event: keep-alive\r\nSubscription-State: active\r\n",
    "REGISTER": "Expires: 60\r\n",
}
METHODS = ["INVITE", "OPTIONS", "REGISTER", "NOTIFY", "BYE", "ACK", "CANCEL"]
WEIGHTS = [5, 3, 2, 2, 2, 2, 2]

Mutation = Callable[[random.Random, bytes], bytes]


class SipFuzzer:
    """Messages for the service at ``host:port``, claiming to come from ``local``.

    Callers are 139… numbers: never a household of the test data, so a fuzzed INVITE that is still
    readable opens an incident for a stranger, never for the household whose call is live.
    """

    def __init__(self, seed: int, host: str, port: int, local: int) -> None:
        self.rng = random.Random(seed)
        self.host, self.port, self.local = host, port, local
        self.counts: dict[str, int] = {}

    def messages(self, count: int) -> Iterator[bytes]:
        for _ in range(count):
            yield self.message()

    def message(self) -> bytes:
        data = self.template()
        for _ in range(self.rng.choice((1, 1, 1, 2, 2, 3))):
            mutation = self.rng.choice(MUTATIONS)
            self.counts[mutation.__name__] = self.counts.get(mutation.__name__, 0) + 1
            data = mutation(self.rng, data)
        return data

    def template(self) -> bytes:
        rng = self.rng
        values = {
            "host": self.host, "port": self.port, "local": self.local, "branch": f"{rng.getrandbits(64):x}",
            "tag": f"{rng.getrandbits(32):x}", "call_id": f"fuzz-{rng.getrandbits(96):x}",
            "caller": f"139{rng.randrange(10**8):08d}", "cseq": rng.randrange(1, 10**6), "to_tag": "",
        }
        if rng.random() < 0.1:
            return RESPONSE.format(code=rng.choice((100, 180, 200, 486, 603)), reason="Fuzz", **values).encode()
        method = rng.choices(METHODS, WEIGHTS)[0]
        body = SDP.format(n=rng.randrange(10**6), rtp=rng.randrange(20000, 60000, 2)) if method == "INVITE" else ""
        if method in ("BYE", "ACK"):
            values["to_tag"] = f";tag={rng.getrandbits(32):x}"
        return REQUEST.format(method=method, extra=EXTRA.get(method, ""), length=len(body), body=body,
                              **values).encode()


def _lines(data: bytes) -> tuple[list[bytes], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), body


def _join(lines: list[bytes], body: bytes) -> bytes:
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def flip_bytes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def delete_header(rng: random.Random, data: bytes) -> bytes:
    lines, body = _lines(data)
    if len(lines) > 1:
        del lines[rng.randrange(1, len(lines))]
    return _join(lines, body)


def duplicate_header(rng: random.Random, data: bytes) -> bytes:
    lines, body = _lines(data)
    if len(lines) > 1:
        index = rng.randrange(1, len(lines))
        lines.insert(rng.randrange(1, len(lines) + 1), lines[index])
    return _join(lines, body)


def huge_value(rng: random.Random, data: bytes) -> bytes:
    lines, body = _lines(data)
    filler = rng.choice((b"A", b"9", b";", b",", b"<", b"%", b"\"", b" ")) * rng.choice((100, 1000, 5000, 9000))
    if len(lines) > 1:
        index = rng.randrange(1, len(lines))
        name = lines[index].split(b":", 1)[0]
        lines[index] = name + b": " + filler
    return _join(lines, body)


def content_length_lie(rng: random.Random, data: bytes) -> bytes:
    lie = rng.choice((b"-1", b"0", b"1", b"99999", b"4294967296", b"abc", b"", b"10 20",
                      str(rng.randrange(400)).encode()))
    lines, body = _lines(data)
    return _join([b"Content-Length: " + lie if line.startswith(b"Content-Length") else line for line in lines], body)


def bad_bytes(rng: random.Random, data: bytes) -> bytes:
    junk = rng.choice((b"\x00", b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x80", b"\x1b[2J", "号".encode()))
    at = rng.randrange(len(data) + 1)
    return data[:at] + junk + data[at:]


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def crlf_games(rng: random.Random, data: bytes) -> bytes:
    game = rng.randrange(6)
    if game == 0:
        return data.replace(b"\r\n", b"\n")
    if game == 1:
        return data.replace(b"\r\n", b"\r")
    if game == 2:
        return data.replace(b"\r\n\r\n", b"\r\n", 1)
    if game == 3:
        at = data.find(b"\r\n", rng.randrange(max(1, len(data) // 2)))
        return data[:at] + b"\r\n\r\n" + data[at:] if at >= 0 else data
    if game == 4:
        return b"\r\n" * rng.randint(1, 4) + data
    return data.replace(b"\r\n", b"\r\n ", rng.randint(1, 3))  # folded continuation lines


def random_method(rng: random.Random, data: bytes) -> bytes:
    method = rng.choice((b"INVITE", b"FOO", b"", b"invite", b"REGISTER", b"PRACK", b"X" * 200, b"IN\x00VITE",
                         b"!%*_+`'~", b"SUBSCRIBE", b"MESSAGE", b"INFO", b"UPDATE", b"REFER"))
    first, _, rest = data.partition(b" ")
    return method + b" " + rest if not first.startswith(b"SIP/") else data


def random_version(rng: random.Random, data: bytes) -> bytes:
    version = rng.choice((b"SIP/3.0", b"SIP/2.1", b"sip/2.0", b"SIP/2.0 ", b"HTTP/1.1", b"SIP/", b"SIP/2.00"))
    return data.replace(b"SIP/2.0", version, 1)


def sdp_mutation(rng: random.Random, data: bytes) -> bytes:
    swaps = [
        (b"c=IN IP4 127.0.0.1", rng.choice((b"c=IN IP4 999.1.1.1", b"c=IN IP6 ::1", b"c=IN IP4 255.255.255.255",
                                              b"c=IN IP4 224.0.0.1/127/3", b"c=", b"c=IN", b"c=IN IP4 0.0.0.0"))),
        (b"m=audio ", rng.choice((b"m=audio 99999", b"m=audio -5", b"m=audio x", b"m=video ", b"m=audio 0/9",
                                  b"m=application "))),
        (b"RTP/AVP 0 8 101", rng.choice((b"RTP/SAVP 0", b"RTP/AVP", b"RTP/AVP abc", b"RTP/AVP 300 18", b"RTP/AVP 9"))),
        (b"a=rtpmap:0 PCMU/8000", rng.choice((b"a=rtpmap:77 X/1", b"a=rtpmap:", b"a=rtpmap:0", b"a=fmtp:55 z"))),
        (b"v=0", rng.choice((b"v=x", b"v=", b"garbage", b"o=", b"t=1"))),
        (b"a=sendrecv", rng.choice((b"a=inactive", b"a=recvonly", b"a=", b"a=:", b"m=audio 1 RTP/AVP 0"))),
    ]
    old, new = rng.choice(swaps)
    return data.replace(old, new, 1)


def header_case(rng: random.Random, data: bytes) -> bytes:
    lines, body = _lines(data)
    if len(lines) > 1:
        index = rng.randrange(1, len(lines))
        name, colon, value = lines[index].partition(b":")
        name = rng.choice((name.lower(), name.upper(), name[:1], name + b" ", b" " + name, name + b"\t"))
        lines[index] = name + colon + rng.choice((value, b"  " + value.strip(), b"\r\n " + value.strip()))
    return _join(lines, body)


def shuffle_lines(rng: random.Random, data: bytes) -> bytes:
    lines, body = _lines(data)
    rest = lines[1:]
    rng.shuffle(rest)
    return _join([lines[0], *rest], body) if rng.random() < 0.5 else _join([*rest, lines[0]], body)


MUTATIONS: list[Mutation] = [
    flip_bytes, delete_header, duplicate_header, huge_value, content_length_lie, bad_bytes, truncate,
    crlf_games, random_method, random_version, sdp_mutation, sdp_mutation, header_case, shuffle_lines,
]

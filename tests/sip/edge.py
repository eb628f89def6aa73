"""The production SIP edge for tests: Kamailio running config/kamailio/production.cfg (or
dispatcher.cfg) with its SQLite database, and raw SIP peers on other loopback addresses that
register with digest authentication, press 995, forge headers and guess passwords.

Loopback addresses stand for machines: 127.0.0.1 the proxy and the 995 service, 127.0.0.3 the
carrier trunk, the others households and attackers (the proxy sees each as its own source).
"""

from __future__ import annotations

import hashlib
import re
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sip.harness import ROOT, Kamailio

KAMAILIO_DB = ROOT / "scripts" / "kamailio-db.sh"
CONFIGS = ROOT / "config" / "kamailio"
REALM = "edge.test"
PROXY = "127.0.0.1"
SERVICE_NET = "127.0.0.1/32"
TRUNK_HOST = "127.0.0.3"
_CHALLENGE = re.compile(r'^(?:WWW|Proxy)-Authenticate:\s*Digest\s+(.*)$', re.MULTILINE | re.IGNORECASE)
_TRACE_ENTRY = re.compile(r"^-{20,} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+$", re.MULTILINE)


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # SIP digest (RFC 2617) is MD5


@dataclass(frozen=True)
class EdgeDatabase:
    """The edge's SQLite file, made and filled by scripts/kamailio-db.sh as an operator would."""

    path: Path

    def create(self) -> EdgeDatabase:
        self._run("init", str(self.path))
        return self

    def add_subscriber(self, user: str, password: str) -> None:
        self._run("add-subscriber", str(self.path), user, REALM, stdin=password + "\n")

    def url(self) -> str:
        return f"sqlite://{self.path}"

    def _run(self, *args: str, stdin: str = "") -> None:
        done = subprocess.run([str(KAMAILIO_DB), *args], input=stdin, capture_output=True, text=True,
                              timeout=30, check=False)
        assert done.returncode == 0, done.stderr


def edge_defines(database: EdgeDatabase, trunk_port: int) -> list[str]:
    """Our addresses and database as kamailio -A defines for the shipped edge configurations."""
    defines = {"DBURL": database.url(), "REALM": REALM, "SERVICE_NET": SERVICE_NET,
               "TRUNK_NET": f"{TRUNK_HOST}/32", "TRUNK_ADDR": f"sip:{TRUNK_HOST}:{trunk_port}"}
    return [part for name, value in defines.items() for part in ("-A", f'{name}="{value}"')]


def edge_kamailio(run_dir: Path, database: EdgeDatabase, trunk_port: int) -> Kamailio:
    """Kamailio running config/kamailio/production.cfg with our addresses and database."""
    return Kamailio(run_dir, config=CONFIGS / "production.cfg", args=edge_defines(database, trunk_port))


def register_with_digest(registrar_port: int, user: str, password: str, contact_port: int, expires: int = 600) -> None:
    """Bind ``user`` to a phone on ``contact_port`` (127.0.0.1), answering the digest challenge."""
    peer = SipPeer(PROXY, registrar_port)
    try:
        answer = peer.register(user, password, contact_port=contact_port, expires=expires)
    finally:
        peer.close()
    if answer is None or answer.code != 200:
        raise RuntimeError(f"REGISTER {user}: {answer.code if answer else 'no answer'}")


@dataclass
class Response:
    code: int
    reason: str
    text: str

    def header(self, name: str) -> str:
        found = re.search(rf"^{re.escape(name)}:\s*(.*?)\r?$", self.text, re.MULTILINE | re.IGNORECASE)
        return found.group(1) if found else ""


@dataclass
class SipPeer:
    """One UDP socket on a loopback address talking to the proxy: a phone, a trunk or an attacker."""

    host: str
    proxy_port: int
    sock: socket.socket = field(init=False)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.host, 0))

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()

    def send(self, method: str, ruri: str, from_user: str, to_user: str, *, headers: str = "",
             call_id: str | None = None, to_tag: str = "", cseq: int = 1, body: str = "") -> str:
        """Send one request; returns its Call-ID."""
        call_id = call_id or uuid.uuid4().hex
        to_param = f";tag={to_tag}" if to_tag else ""
        text = (
            f"{method} {ruri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {self.host}:{self.port};branch=z9hG4bK{uuid.uuid4().hex};rport\r\n"
            f"From: <sip:{from_user}@{REALM}>;tag={uuid.uuid4().hex[:8]}\r\n"
            f"To: <sip:{to_user}@{REALM}>{to_param}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
            f"Contact: <sip:{from_user}@{self.host}:{self.port}>\r\nMax-Forwards: 70\r\n{headers}"
            + ("Content-Type: application/sdp\r\n" if body else "")
            + f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
        )
        self.sock.sendto(text.encode(), (PROXY, self.proxy_port))
        return call_id

    def final(self, call_id: str, timeout: float = 2.0) -> Response | None:
        """The first final response for ``call_id`` (None: nothing came, e.g. a banned source)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65535).decode(errors="replace")
            except TimeoutError:
                return None
            status = re.match(r"SIP/2\.0 (\d{3}) ([^\r\n]*)", data)
            if status and int(status.group(1)) >= 200 and f"Call-ID: {call_id}" in data:
                return Response(int(status.group(1)), status.group(2), data)
        return None

    def request(self, method: str, ruri: str, from_user: str, to_user: str, *, password: str = "",
                headers: str = "", body: str = "", timeout: float = 2.0) -> Response | None:
        """Send a request and return its final response; with ``password``, answer one 401/407."""
        call_id = self.send(method, ruri, from_user, to_user, headers=headers, body=body)
        answer = self.final(call_id, timeout)
        if password and answer is not None and answer.code in (401, 407):
            header = "Authorization" if answer.code == 401 else "Proxy-Authorization"
            credentials = digest(answer, method, ruri, from_user, password)
            self.send(method, ruri, from_user, to_user, call_id=call_id, cseq=2, body=body,
                      headers=headers + f"{header}: {credentials}\r\n")
            answer = self.final(call_id, timeout)
        return answer

    def register(self, user: str, password: str, contact_port: int | None = None,
                 expires: int = 600) -> Response | None:
        """REGISTER ``user`` with this socket (or ``contact_port`` on this host) as its contact."""
        contact = f"<sip:{user}@{self.host}:{contact_port or self.port}>"
        headers = f"Expires: {expires}\r\n"
        ruri = f"sip:{REALM}"
        call_id = uuid.uuid4().hex
        self._send_register(ruri, user, contact, headers, call_id, 1)
        answer = self.final(call_id)
        if password and answer is not None and answer.code == 401:
            credentials = digest(answer, "REGISTER", ruri, user, password)
            self._send_register(ruri, user, contact, headers + f"Authorization: {credentials}\r\n", call_id, 2)
            answer = self.final(call_id)
        return answer

    def _send_register(self, ruri: str, user: str, contact: str, headers: str, call_id: str, cseq: int) -> None:
        text = (
            f"REGISTER {ruri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {self.host}:{self.port};branch=z9hG4bK{uuid.uuid4().hex};rport\r\n"
            f"From: <sip:{user}@{REALM}>;tag={uuid.uuid4().hex[:8]}\r\nTo: <sip:{user}@{REALM}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: {contact}\r\n{headers}"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        self.sock.sendto(text.encode(), (PROXY, self.proxy_port))

    def received(self, timeout: float) -> list[str]:
        """Every datagram that reaches this socket within ``timeout`` seconds."""
        found: list[str] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                found.append(self.sock.recv(65535).decode(errors="replace"))
            except TimeoutError:
                break
        return found


def digest(challenge: Response, method: str, uri: str, user: str, password: str) -> str:
    """The Authorization value answering a Digest challenge without qop (RFC 2617 §3.2.2)."""
    found = _CHALLENGE.search(challenge.text)
    assert found, challenge.text
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', found.group(1)))
    ha1 = md5(f"{user}:{params['realm']}:{password}")
    response = md5(f"{ha1}:{params['nonce']}:{md5(f'{method}:{uri}')}")
    return (f'Digest username="{user}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
            f'uri="{uri}", response="{response}", algorithm=MD5')


SDP = ("v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")


def received_requests(trace: Path) -> list[str]:
    """The requests a sipp party received, whole, from its -trace_msg file, in order."""
    if not trace.exists():
        return []
    entries = _TRACE_ENTRY.split(trace.read_text(errors="replace"))
    messages = [entry.split("\n\n", 1)[1] if "\n\n" in entry else "" for entry in entries
                if "message received" in entry]
    return [message.strip() for message in messages if not message.lstrip().startswith("SIP/2.0")]


def header_values(message: str, name: str) -> list[str]:
    return re.findall(rf"^{re.escape(name)}:\s*(.*?)\r?$", message, re.MULTILINE | re.IGNORECASE)

"""Debian's baresip softphone (1.0.0), headless, as a real far end for tests and benchmarks.

One ``baresip`` process per phone, each with a config directory of its own (``-f DIR``):

- ``ctrl_tcp``: commands and events as JSON in netstrings on a loopback TCP port
  (``{"command": "dial", "params": "sip:995@…", "token": "7"}`` → ``{"response": true, "ok": …}``;
  events such as ``{"event": true, "type": "CALL_ESTABLISHED", "id": …}``). The commands are the
  ``menu`` module's: ``dial``, ``accept`` (answer), ``hangup`` (a ringing call: 486 Rejected),
  ``sndcode`` (keys as RFC 2833 telephone-events), ``hold``, ``resume``, ``quit``.
- ``aufile``: the microphone is a WAV file (8 kHz mono 16-bit, a quiet tone long enough for any call:
  at its end baresip would hang up).
- ``sndfile``: what the phone hears is written, decoded, to ``dump-<time>-dec.wav`` in the phone's
  directory (baresip 1.0.0's ``aufile`` has no player; no sound card is used: no player at all).
- ``g711``: PCMU and PCMA; the account's ``audio_codecs`` says which the phone offers and accepts,
  its ``ptime`` the packetisation it asks for.
- ``rtcpsummary``: at each call's end one ``EX=BareSip;…;JI=rx,tx;…`` line with the RTCP figures.

Every port is picked free on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .harness import HOST, free_udp_port, free_udp_range

MODULES = Path("/usr/lib/baresip/modules")
CODECS = {"PCMU": "PCMU/8000/1", "PCMA": "PCMA/8000/1"}
SOURCE_SECONDS = 240
Event = dict[str, Any]


class BaresipError(RuntimeError):
    """baresip did not start, register, answer a command, or send an awaited event."""


def baresip_binary() -> str:
    found = shutil.which("baresip")
    if found is None:
        raise BaresipError("baresip is not installed: run scripts/install.sh (Debian package baresip)")
    return found


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def write_source_wav(path: Path, seconds: int = SOURCE_SECONDS, pitch: float = 425.0, level: int = 1500) -> Path:
    """The phone's microphone: a quiet tone, 8 kHz mono 16-bit (what aufile needs for G.711)."""
    if path.exists():
        return path
    period = [round(level * math.sin(2 * math.pi * pitch * i / 8000)) for i in range(8000)]
    second = struct.pack(f"<{len(period)}h", *period)
    part = path.with_suffix(".part")
    with wave.open(str(part), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        for _ in range(seconds):
            out.writeframes(second)
    part.replace(path)
    return path


def netstring(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b":" + payload + b","


def split_netstrings(buffer: bytearray) -> Iterator[bytes]:
    """Complete netstrings taken off the front of ``buffer``; a partial one stays for the next read."""
    while True:
        colon = buffer.find(b":")
        if colon <= 0:
            return
        length = int(buffer[:colon])
        end = colon + 1 + length
        if len(buffer) < end + 1:
            return
        payload = bytes(buffer[colon + 1:end])
        del buffer[:end + 1]
        yield payload


@dataclass(frozen=True)
class SipTraced:
    """One SIP message in baresip's trace: where from, where to, the text (LF line ends)."""

    source: str  # host:port
    destination: str
    text: str

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0]

    def header(self, name: str) -> str:
        for line in self.text.split("\n\n", 1)[0].split("\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return ""

    @property
    def body(self) -> str:
        return self.text.split("\n\n", 1)[1] if "\n\n" in self.text else ""


@dataclass
class BaresipPhone:
    """One softphone registered as ``user`` at the registrar on 127.0.0.1:``registrar_port``."""

    work_dir: Path
    user: str
    registrar_port: int
    codecs: tuple[str, ...] = ("PCMU", "PCMA")  # offered and accepted, in this order
    ptime: int = 20
    answermode: str = "manual"  # "auto": every incoming call answered at once
    record: bool = True  # write what the phone hears to dump-*-dec.wav
    extra_accounts: tuple[str, ...] = ()  # more users on the same process (benchmarks: one process, many lines)
    ptimes: dict[str, int] = field(default_factory=dict)  # a line's own ptime (default: ``ptime``)
    regint: int = 600
    sip_trace: bool = False  # baresip -s: every SIP message sent and received, in baresip.log
    sip_port: int = field(default_factory=free_udp_port)
    ctrl_port: int = field(default_factory=free_tcp_port)
    process: subprocess.Popen[bytes] | None = None
    events: list[Event] = field(default_factory=list)
    _responses: dict[str, Event] = field(default_factory=dict)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _sock: socket.socket | None = None
    _reader: threading.Thread | None = None
    _token: int = 0

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{HOST}:{self.registrar_port}"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "baresip.log"

    # -- life cycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> BaresipPhone:
        """Start, connect to ctrl_tcp and wait until every account is registered."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([baresip_binary(), "-f", str(self.work_dir),
                                             *(["-s"] if self.sip_trace else [])], stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            cwd=self.work_dir, start_new_session=True)
        try:
            self._connect(timeout)
            self._wait_registered(time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Quit politely (un-REGISTER), then terminate, then kill; idempotent."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(BaresipError, OSError):
                self.command("quit", timeout=2)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=5)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _write_config(self) -> None:
        rtp_low, rtp_high = free_udp_range(20 + 4 * len(self.extra_accounts))  # RTP and RTCP per call
        modules = ["g711.so", "aufile.so", *(["sndfile.so"] if self.record else [])]
        lines = [
            "poll_method epoll",
            f"net_interface {HOST}",  # SDP and media on 127.0.0.1, as the rest of the rig
            "statmode_default off",
            f"sip_listen {HOST}:{self.sip_port}",
            "call_local_timeout 120",
            f"call_max_calls {8 + 2 * len(self.extra_accounts)}",
            f"audio_source aufile,{write_source_wav(self.work_dir.parent / 'baresip-source.wav')}",
            "audio_buffer 20-160",
            "jitter_buffer_delay 0-0",  # decode each packet as it comes (1.0.0's jbuf stops decoding after a re-INVITE)
            f"rtp_ports {rtp_low}-{rtp_high}",
            "rtp_timeout 0",
            "rtcp_mux no",
            "rtp_stats yes",
            f"module_path {MODULES}",
            *(f"module {name}" for name in modules),
            "module_app account.so",
            "module_app menu.so",
            "module_app ctrl_tcp.so",
            "module_app rtcpsummary.so",
            f"ctrl_tcp_listen {HOST}:{self.ctrl_port}",
            f"snd_path {self.work_dir}",
        ]
        (self.work_dir / "config").write_text("\n".join(lines) + "\n")
        accounts = [self._account_line(user) for user in (self.user, *self.extra_accounts)]
        (self.work_dir / "accounts").write_text("\n".join(accounts) + "\n")
        for name in ("contacts", "uuid"):
            (self.work_dir / name).touch()

    def _account_line(self, user: str) -> str:
        codecs = ",".join(CODECS[codec] for codec in self.codecs)
        return (f"<sip:{user}@{HOST}:{self.registrar_port};transport=udp>;regint={self.regint};"
                f"answermode={self.answermode};audio_codecs={codecs};ptime={self.ptimes.get(user, self.ptime)};mwi=no;"
                "call_transfer=no")

    def _connect(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise BaresipError(f"baresip exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                self._sock = socket.create_connection((HOST, self.ctrl_port), timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise BaresipError(f"ctrl_tcp did not listen on {self.ctrl_port}:\n{self.log_tail()}") from None
                time.sleep(0.05)
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read, args=(self._sock,), daemon=True,
                                        name=f"baresip-{self.user}")
        self._reader.start()

    def _read(self, sock: socket.socket) -> None:
        buffer = bytearray()
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            buffer += data
            for payload in split_netstrings(buffer):
                message = json.loads(payload)
                message["at"] = time.time()
                with self._changed:
                    if message.get("response"):
                        self._responses[str(message.get("token", ""))] = message
                    else:
                        self.events.append(message)
                    self._changed.notify_all()

    # -- commands --------------------------------------------------------------------------------

    def command(self, name: str, params: str = "", timeout: float = 5.0) -> Event:
        """Run one menu command through ctrl_tcp; the response (``ok`` false raises)."""
        if self._sock is None:
            raise BaresipError("not connected")
        with self._changed:
            self._token += 1
            token = str(self._token)
        message: dict[str, str] = {"command": name, "token": token}
        if params:
            message["params"] = params
        self._sock.sendall(netstring(json.dumps(message).encode()))
        with self._changed:
            if not self._changed.wait_for(lambda: token in self._responses, timeout):
                raise BaresipError(f"{self.user}: no response to {name} {params}\n{self.log_tail()}")
            response = self._responses.pop(token)
        if not response.get("ok", False):
            raise BaresipError(f"{self.user}: {name} {params} failed: {response.get('data')}")
        return response

    def dial(self, number: str) -> None:
        self.command("dial", f"sip:{number}@{HOST}:{self.registrar_port}")

    def answer(self) -> None:
        self.command("accept")

    def hangup(self) -> None:
        """End the current call; a call still ringing is rejected with 486 Rejected."""
        self.command("hangup")

    def press(self, keys: str) -> None:
        """Keys as RFC 2833 telephone-events on the current call (each, then the release)."""
        self.command("sndcode", keys)

    def hold(self) -> None:
        """A re-INVITE with a=sendonly (RFC 3264 hold)."""
        self.command("hold")

    def resume(self) -> None:
        self.command("resume")

    # -- events ----------------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str = "") -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def events_of(self, kind: str, since: int = 0) -> list[Event]:
        with self._changed:
            return [event for event in self.events[since:] if event.get("type") == kind]

    def wait_event(self, kind: str, timeout: float, since: int = 0) -> Event:
        """The first event of ``kind`` (CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED, CALL_DTMF_START,
        CALL_RTCP …) at or after index ``since`` of the event list; raises after ``timeout``."""
        found: list[Event] = []

        def seen() -> bool:
            found[:] = [event for event in self.events[since:] if event.get("type") == kind]
            return bool(found)

        if not self.wait_for(seen, timeout):
            raise BaresipError(f"{self.user}: no {kind} within {timeout} s; events: "
                               f"{[e.get('type') for e in self.events]}\n{self.log_tail()}")
        return found[0]

    def mark(self) -> int:
        """An index into the events: wait_event(…, since=mark) sees only what came after it."""
        with self._changed:
            return len(self.events)

    def _wait_registered(self, deadline: float) -> None:
        """Until ``reginfo`` says 200 OK for every line (the first REGISTER may have been answered
        before ctrl_tcp had a listener, so its event is not awaited)."""
        users = {self.user, *self.extra_accounts}
        while True:
            status = str(self.command("reginfo").get("data", ""))
            ok = {line.split("sip:", 1)[1].split("@", 1)[0] for line in status.splitlines()
                  if "sip:" in line and "OK" in line}
            if users <= ok:
                return
            if time.monotonic() > deadline:
                raise BaresipError(f"{self.user}: not registered: {status!r}\n{self.log_tail()}")
            time.sleep(0.1)

    # -- what the phone heard and logged -------------------------------------------------------

    def recordings(self) -> list[Path]:
        """The decoded audio of each call so far (oldest first); complete once its call closed."""
        return sorted(self.work_dir.glob("dump-*-dec.wav"))

    def rtcp_summaries(self) -> list[dict[str, str]]:
        """rtcpsummary's line per closed call: EX, CS, CD, PR, PS, PL, PD, JI (rx,tx ms), DL, IP."""
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("EX=BareSip;"):
                found.append(dict(part.split("=", 1) for part in line.strip().strip(";").split(";") if "=" in part))
        return found

    def sip_messages(self) -> list[SipTraced]:
        """Every SIP message the phone sent or received, in order (needs ``sip_trace``)."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        found = []
        for block in text.split("\x1b[36;1m#\n")[1:]:
            route, _, rest = block.partition("\n")
            parts = route.split()
            if len(parts) != 4 or parts[2] != "->":
                continue
            message = rest.split("\x1b[;m", 1)[0]
            found.append(SipTraced(parts[1], parts[3], message.replace("\r\n", "\n")))
        return found

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def read_recording(path: Path) -> bytes:
    """The 16-bit mono PCM of a sndfile dump."""
    with wave.open(str(path), "rb") as source:
        if (source.getnchannels(), source.getsampwidth(), source.getframerate()) != (1, 2, 8000):
            raise BaresipError(f"{path}: not 8 kHz 16-bit mono")
        return source.readframes(source.getnframes())

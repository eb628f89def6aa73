"""Jasmin, the real SMPP server the SMPP channel is tested against, with its broker, store and carrier.

``JasminRig`` starts (through scripts/jasmin.sh) Redis, RabbitMQ and jasmind on loopback, a carrier
SMSC stub (tests/smsc_stub) that Jasmin's SMPP client connector binds to, and configures Jasmin
through its jCli console as an operator would:

- group ``cc995`` and user ``cc995`` (password ``ccpass``): the account our channel binds as (transceiver);
- SMPP client connectors ``carrier1``… to the stub, receipts requested, no throughput cap;
- MT route: mainland mobiles (destination ``861[3-9]…``) round robin over the connectors; anything
  else has no route, and Jasmin answers ``submit_sm`` with ESME_RINVDSTADR;
- MO route: everything to the ``cc995`` user's binds (``smpps(cc995)``), so the stub's replies reach us.

``restart_jasmind()`` stops the gateway (SIGKILL: no goodbye to anyone) and starts it again; the
configuration was persisted with jCli's ``persist`` and is loaded again at start.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.smsc_stub import CarrierSmsc

ROOT = Path(__file__).resolve().parents[3]
JASMIN_SH = ROOT / "scripts" / "jasmin.sh"
USER, PASSWORD = "cc995", "ccpass"  # Jasmin ids have 3 characters or more
MOBILE_ROUTE = r"^861[3-9]"


def _free_block(size: int) -> int:
    """A port with ``size`` free ports from it (jasmind's services sit on consecutive ports)."""
    for _ in range(200):
        base = random.randrange(20000, 40000)
        if all(_free(base + i) for i in range(size)):
            return base
    raise RuntimeError("no free block of ports")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_port(port: int, timeout: float, what: str, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout} s")


def _mt_route(cids: list[str]) -> list[str]:
    """A round robin needs two connectors or more; one gets a static route."""
    if len(cids) == 1:
        return ["type StaticMTRoute", "order 10", f"connector smppc({cids[0]})"]
    return ["type RandomRoundrobinMTRoute", "order 10", "connectors " + ";".join(f"smppc({c})" for c in cids)]


class JCli:
    """Jasmin's jCli console over TCP: one command per line, answered up to the next prompt."""

    PROMPTS = (b"jcli : ", b"> ")

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self._read((b"Session ref: ",))  # the banner; the first prompt comes after the first line sent

    def _read(self, ends: tuple[bytes, ...] = PROMPTS) -> str:
        data = b""
        while not data.rstrip(b"\r\n0123456789 ").endswith(tuple(p.rstrip() for p in ends)):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"jCli closed: {data!r}")
            data += chunk
        return data.decode("utf-8", "replace")

    def run(self, *lines: str) -> str:
        out = ""
        for line in lines:
            self.sock.sendall(line.encode() + b"\r\n")
            out += self._read()
        return out

    def close(self) -> None:
        self.sock.close()


@dataclass
class JasminRig:
    rundir: Path
    carrier: CarrierSmsc = field(default_factory=CarrierSmsc)
    # Jasmin's connectors take one message at a time from their queue (AMQP prefetch 1), so one
    # forwards a few dozen a second: throughput comes from several, round robin.
    connectors: int = 4
    base: int = 0
    amqp: int = 0
    redis: int = 0
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def smpp_port(self) -> int:
        return self.base

    @property
    def jcli_port(self) -> int:
        return self.base + 1

    def start(self) -> JasminRig:
        # One block: jasmind's seven services, RabbitMQ and its Erlang distribution port, Redis.
        self.base = _free_block(10)
        self.amqp, self.redis = self.base + 7, self.base + 9
        self.carrier.start()
        try:
            self._spawn("redis", str(self.redis))
            self._spawn("rabbitmq", str(self.amqp))
            wait_port(self.redis, 20, "redis", self._processes["redis"])
            wait_port(self.amqp, 90, "rabbitmq", self._processes["rabbitmq"])
            self.start_jasmind()
            self.configure()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, what: str, *ports: str) -> None:
        log = (self.rundir / f"{what}.out").open("ab")
        self._processes[what] = subprocess.Popen(["bash", str(JASMIN_SH), what, str(self.rundir), *ports],
                                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def start_jasmind(self) -> None:
        """Starts the gateway unless it runs (a second would orphan the first)."""
        running = self._processes.get("jasmind")
        if running is not None and running.poll() is None:
            return
        self._spawn("jasmind", str(self.base), str(self.amqp), str(self.redis))
        wait_port(self.smpp_port, 60, "jasmind", self._processes["jasmind"])
        wait_port(self.jcli_port, 30, "jasmin jcli", self._processes["jasmind"])

    def stop_jasmind(self) -> None:
        self._kill("jasmind")

    def receipts_lost_inside(self) -> int:
        """Receipts Jasmin took from the carrier (it acknowledged them) and never passed on. Either it
        logged that it could not tell which message one is for (a gateway killed between forwarding a
        message and writing its id mapping), or it never logged the receipt at all (taken by the
        gateway in the moment it was killed). Both are Jasmin's; a receipt it logged as passed on and
        that then settled no leg would be ours, and is not counted here."""
        log = self.rundir / "jasmin" / "var" / "log" / "jasmin" / "messages.log"
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        unknown = set(re.findall(r"\(final\) DLRMapNotFound: Got a DLR for an unknown message id: (\w+)", text))
        logged = set(re.findall(r"\bDLR \[cid:[^]]*\] \[smpp-msgid:(\w+)\]", text))
        with self.carrier._lock:
            taken = set(self.carrier.receipts_taken)
        return len(unknown | (taken - logged))

    def freeze_jasmind(self) -> None:
        """The gateway hangs (SIGSTOP): it reads nothing more and answers nothing."""
        os.killpg(self._processes["jasmind"].pid, signal.SIGSTOP)

    def restart_jasmind(self) -> None:
        self.stop_jasmind()
        self.start_jasmind()
        self.wait_connector_bound()

    def configure(self) -> None:
        cids = [f"carrier{n}" for n in range(1, self.connectors + 1)]
        lines = ["group -a", "gid cc995", "ok",
                 "user -a", f"username {USER}", f"password {PASSWORD}", "gid cc995", f"uid {USER}", "ok"]
        for cid in cids:
            lines += ["smppccm -a", f"cid {cid}", "host 127.0.0.1", f"port {self.carrier.port}", "username jasmin",
                      "password jasmin", "submit_throughput 0", "con_loss_delay 1", "con_fail_delay 1",
                      "dlr_expiry 86400", "ok", f"smppccm -1 {cid}"]
        lines += ["filter -a", "fid mobiles", "type DestinationAddrFilter", f"destination_addr {MOBILE_ROUTE}", "ok",
                  "mtrouter -a", *_mt_route(cids), "filters mobiles", "rate 0.00", "ok",
                  "morouter -a", "type DefaultRoute", f"connector smpps({USER})", "ok",
                  "persist"]
        cli = JCli(self.jcli_port)
        try:
            out = cli.run(*lines)
        finally:
            cli.close()
        if any(word in out for word in ("Unknown", "Invalid", "must", "rror")):
            raise RuntimeError(f"jCli configuration failed:\n{out}")
        self.wait_connector_bound()

    def wait_connector_bound(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.carrier.bound(self.connectors):
            if time.monotonic() > deadline:
                raise RuntimeError("Jasmin's connector did not bind to the carrier stub")
            time.sleep(0.1)

    def _kill(self, what: str) -> None:
        process = self._processes.pop(what, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        for what in ("jasmind", "rabbitmq", "redis"):
            process = self._processes.get(what)
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for what in ("jasmind", "rabbitmq", "redis"):
            process = self._processes.pop(what, None)
            if process is not None:
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        self.carrier.stop()

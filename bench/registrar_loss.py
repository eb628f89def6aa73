"""How soon the service notices a dead registrar, and how soon it is registered again after a restart.

    .venv/bin/python -m bench.registrar_loss [--rounds 3] [--interval 3] [--misses 2]

Each round starts a Kamailio, registers two SipServices at it (register_expires 60): one with the
OPTIONS keepalive (extension 995), the reference without it (extension 996, keepalive 0, the only
detection being the next re-REGISTER). After a random 1–10 s the Kamailio is stopped; the time until
each service reports "not registered" is taken, then Kamailio is started again and the time until
each is registered again. Goal: lost registrar noticed within 10 s.
"""

from __future__ import annotations

import argparse
import importlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from callcenter.settings import SipSettings
from callcenter.sip.service import SipService

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
harness: Any = importlib.import_module("sip.harness")  # the tests' Kamailio runner

LIMIT = 70.0  # seconds: beyond the reference's 48 s refresh + 2 s timeout


def _service(port: int, extension: str, keepalive: float, misses: int) -> SipService:
    low, high = harness.free_udp_range(4)
    settings = SipSettings.model_validate({
        "registrar_port": port, "sip_port": 0, "rtp_port_low": low, "rtp_port_high": high, "extension": extension,
        "register_expires": 60, "keepalive_seconds": keepalive, "keepalive_misses": misses})
    service = SipService(settings, on_emergency=lambda caller: None)
    service.start()
    if not service.phone.wait_registered(10):
        raise RuntimeError(f"{extension} did not register: {service.registration}")
    return service


def _until(services: dict[str, SipService], state: Callable[[SipService], bool], start: float) -> dict[str, float]:
    """Seconds from ``start`` until each service reaches ``state`` (nan when not within LIMIT)."""
    reached: dict[str, float] = {}
    while len(reached) < len(services) and time.monotonic() - start < LIMIT:
        for name, service in services.items():
            if name not in reached and state(service):
                reached[name] = time.monotonic() - start
        time.sleep(0.05)
    return {name: reached.get(name, float("nan")) for name in services}


def one_round(work: Path, interval: float, misses: int) -> dict[str, tuple[float, float]]:
    registrar = harness.Kamailio(work).start()
    services = {"keepalive": _service(registrar.port, "995", interval, misses),
                "reference": _service(registrar.port, "996", 0, misses)}
    try:
        time.sleep(random.uniform(1, 10))
        registrar.stop()
        lost = _until(services, lambda s: not s.registration.registered, time.monotonic())
        registrar.start()
        back = _until(services, lambda s: s.registration.registered, time.monotonic())
    finally:
        for service in services.values():
            service.stop()
        registrar.stop()
    return {name: (lost[name], back[name]) for name in services}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interval", type=float, default=3.0)
    parser.add_argument("--misses", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"keepalive": [], "reference": []}
    with tempfile.TemporaryDirectory(prefix="bench-registrar-") as tmp:
        for n in range(args.rounds):
            for name, figures in one_round(Path(tmp) / f"round{n}", args.interval, args.misses).items():
                results[name].append(figures)
                print(f"round {n + 1}: {name:9} lost noticed {figures[0]:5.1f} s, registered again {figures[1]:5.1f} s")
    print("\n| service | rounds | noticed median s | noticed max s | registered again median s | goal ≤ 10 s |")
    print("|---|---:|---:|---:|---:|---|")
    for name, rows in results.items():
        lost, back = [r[0] for r in rows], [r[1] for r in rows]
        met = "met" if max(lost) <= 10 else "missed"
        label = f"keepalive {args.interval:g} s × {args.misses}" if name == "keepalive" else "re-REGISTER only"
        print(f"| {label} | {len(rows)} | {statistics.median(lost):.1f} | {max(lost):.1f} | "
              f"{statistics.median(back):.1f} | {met} |")


if __name__ == "__main__":
    main()

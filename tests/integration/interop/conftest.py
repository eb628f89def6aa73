"""Fixtures of the interop suite: Kamailio, the service as `callcenter serve` wires it with the suite's
directory (rig.py), and the baresip phones, registered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.mass_stack import Service, start_service
from tests.integration.interop.rig import (
    HOUSEHOLD,
    NEIGHBOURS,
    POLICY,
    PTIME_40_LINE,
    RING_SECONDS,
    ROSTER,
    TYPING_HOUSEHOLDS,
    callcenter,
)
from tests.sip.baresip import BaresipPhone
from tests.sip.capture import LoopbackCapture
from tests.sip.harness import Kamailio


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    registrar = Kamailio(tmp_path_factory.mktemp("kamailio")).start()
    yield registrar
    registrar.stop()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("interop")


@pytest.fixture(scope="module")
def service(work: Path, kamailio: Kamailio) -> Iterator[Service]:
    data_dir = work / "data"
    data_dir.mkdir()
    (work / "roster.csv").write_text(ROSTER, encoding="utf-8")
    (work / "escalation.yaml").write_text(POLICY, encoding="utf-8")
    callcenter(data_dir, "init-db")
    callcenter(data_dir, "roster", "import", str(work / "roster.csv"))
    running = start_service(data_dir, kamailio.port, max_channels=10, ring_timeout=RING_SECONDS,
                            extra={"engine": {"policy_file": str(work / "escalation.yaml")}}, rtp_ports=60)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def phones(work: Path, kamailio: Kamailio, service: Service) -> Iterator[dict[str, BaresipPhone]]:
    """The households' process (all four lines) and one process per neighbour, registered."""
    started: dict[str, BaresipPhone] = {}
    try:
        started[HOUSEHOLD] = BaresipPhone(work / "household", HOUSEHOLD, kamailio.port, codecs=("PCMA", "PCMU"),
                                          extra_accounts=tuple(TYPING_HOUSEHOLDS), ptimes={PTIME_40_LINE: 40},
                                          sip_trace=True).start()
        for neighbour in NEIGHBOURS:
            started[neighbour.number] = BaresipPhone(
                work / f"neighbour-{neighbour.number}", neighbour.number, kamailio.port, codecs=neighbour.codecs,
                sip_trace=True).start()
        yield started
    finally:
        for phone in started.values():
            phone.stop()


@pytest.fixture(scope="module")
def capture() -> Iterator[LoopbackCapture]:
    """Every UDP datagram on lo with its kernel arrival time, while the module runs."""
    running = LoopbackCapture().start()
    yield running
    running.stop()

"""Real Kamailio (config/kamailio/loopback.cfg) per test module, sipp phones, and our phone or pyVoIP's."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVoIP.VoIP import CallState, VoIPCall, VoIPPhone
from sip.harness import Kamailio, Sipp, free_udp_port, free_udp_range

from callcenter.sip.phone import HardenedPhone

SERVICE = "995"
HOUSEHOLD = "13800000001"


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    registrar = Kamailio(tmp_path_factory.mktemp("kamailio")).start()
    yield registrar
    registrar.stop()


@pytest.fixture
def sipp_dir(tmp_path: Path) -> Path:
    return tmp_path / "sipp"


PhoneFactory = Callable[..., Any]


@pytest.fixture
def make_phone(kamailio: Kamailio) -> Iterator[PhoneFactory]:
    """Build, start and later stop a phone registered as 995: pyVoIP's own ("stock") or ours ("hardened")."""
    phones: list[Any] = []

    def make(impl: str, callback: Callable[[Any], None] | None = None, start: bool = True) -> Any:
        low, high = free_udp_range(8)
        if impl == "stock":
            phone: Any = VoIPPhone("127.0.0.1", kamailio.port, SERVICE, "", "127.0.0.1", callback,
                                   free_udp_port(), low, high)
        else:
            phone = HardenedPhone("127.0.0.1", kamailio.port, SERVICE, "", "127.0.0.1", callback, 0, low, high)
        phones.append(phone)
        if start:
            phone.start()
            if impl != "stock":
                assert phone.wait_registered(5), phone.registration
        return phone

    yield make
    for phone in phones:
        with contextlib.suppress(Exception):  # pyVoIP's stop can fail on a phone it declared FAILED
            phone.stop()
        if isinstance(phone, VoIPPhone) and not isinstance(phone, HardenedPhone):
            _stop_stock_leftovers(phone)


def _stop_stock_leftovers(phone: VoIPPhone) -> None:
    """pyVoIP's 1 s answer Timer may fire after stop() and start RTP threads nobody stops: stop them."""
    time.sleep(1.2)
    for call in list(phone.calls.values()):
        for client in call.RTPClients:
            client.NSD = False


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def answer_and_hold(call: VoIPCall) -> None:
    """An inbound callback that answers and keeps the line until the household hangs up."""
    try:
        call.answer()
    except OSError:  # pyVoIP's late Timer fired after the test stopped the phone
        return
    wait_until(lambda: call.state == CallState.ENDED, 15)


def digit_received(call: Any, timeout: float) -> str:
    """The first DTMF digit on either phone's call ('' if none came)."""
    if hasattr(call, "digits"):
        try:
            return str(call.digits.get(timeout=timeout))
        except Exception:
            return ""
    found: list[str] = []
    wait_until(lambda: bool(found.append(call.get_dtmf()) or found[-1]), timeout)
    return found[-1] if found else ""


def household(sipp_dir: Path, kamailio: Kamailio, scenario: str = "household_call", **kw: Any) -> Sipp:
    return Sipp(scenario, sipp_dir, remote_port=kamailio.port, keys={"household": HOUSEHOLD, "service": SERVICE},
                **kw)


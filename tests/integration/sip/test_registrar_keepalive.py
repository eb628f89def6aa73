"""The OPTIONS keepalive against a real Kamailio: a stopped registrar is noticed within 10 s (not at the
next re-REGISTER, ~48 s away with a 60 s binding) and a restarted one gets our REGISTER at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import household, wait_until
from sip.harness import Kamailio, free_udp_range

from callcenter.adapters.health import SipRegistrationProbe
from callcenter.settings import SipSettings
from callcenter.sip.service import SipService

pytestmark = pytest.mark.timeout(120)


def _service(registrar: Kamailio, **overrides: object) -> tuple[SipService, list[str]]:
    low, high = free_udp_range(8)
    values: dict[str, object] = {"registrar_port": registrar.port, "sip_port": 0, "rtp_port_low": low,
                                 "rtp_port_high": high, "register_expires": 60}
    values.update(overrides)
    callers: list[str] = []
    sip = SipService(SipSettings.model_validate(values), on_emergency=lambda caller: callers.append(caller.number))
    sip.start()
    assert sip.phone.wait_registered(10), sip.registration
    return sip, callers


def test_lost_registrar_noticed_within_10_s_and_back_after_restart(tmp_path: Path) -> None:
    registrar = Kamailio(tmp_path / "registrar").start()
    sip, callers = _service(registrar)
    probe = SipRegistrationProbe(lambda: sip)
    try:
        assert probe.check().ok
        registrar.stop()
        stopped = time.monotonic()
        assert wait_until(lambda: not sip.registration.registered, 10.0), sip.registration
        noticed = time.monotonic() - stopped
        down = probe.check()
        assert not down.ok and "did not answer 2 OPTIONS" in down.detail, down.detail
        assert sip.channel.is_healthy() is False  # the failover channel moves alert legs on this
        registrar.start()
        assert wait_until(lambda: sip.registration.registered, 10.0), sip.registration
        assert probe.check().ok
        # The restarted registrar forgot every binding: a household's 995 call reaches us again
        # only because we re-REGISTERed at once instead of at the next refresh.
        assert household(tmp_path / "sipp", registrar).run(timeout=30) == 0
        assert callers and set(callers) == {"13800000001"}
        print(f"registrar loss noticed after {noticed:.1f} s")
    finally:
        sip.stop()
        registrar.stop()


def test_keepalive_off_leaves_detection_to_the_re_register(tmp_path: Path) -> None:
    registrar = Kamailio(tmp_path / "registrar").start()
    sip, _ = _service(registrar, keepalive_seconds=0)
    try:
        assert sip.keepalive is None
        registrar.stop()
        assert not wait_until(lambda: not sip.registration.registered, 8.0)  # still believes it is bound
    finally:
        sip.stop()
        registrar.stop()


def test_keepalive_probes_are_answered_while_the_registrar_runs(tmp_path: Path) -> None:
    registrar = Kamailio(tmp_path / "registrar").start()
    sip, _ = _service(registrar, keepalive_seconds=0.5)
    try:
        assert sip.keepalive is not None
        assert wait_until(lambda: sip.keepalive is not None and sip.keepalive.probes >= 4, 10.0)
        assert sip.keepalive.misses == 0
        assert sip.registration.registered
    finally:
        sip.stop()
        registrar.stop()

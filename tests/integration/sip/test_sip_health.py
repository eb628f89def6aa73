"""/health's SIP probe against a real Kamailio: degraded while the registrar is away, ok once registered."""

from __future__ import annotations

from pathlib import Path

from sip.harness import Kamailio, free_udp_port, free_udp_range

from callcenter.adapters.health import SipRegistrationProbe
from callcenter.settings import SipSettings
from callcenter.sip.service import SipService


def _never_called(number: str, trust: object) -> None:
    raise AssertionError(f"no call expected, got one from {number}")


def test_probe_follows_the_registration(tmp_path: Path) -> None:
    registrar = Kamailio(tmp_path / "registrar", port=free_udp_port())
    low, high = free_udp_range(4)
    settings = SipSettings.model_validate({"registrar_port": registrar.port, "sip_port": 0,
                                           "rtp_port_low": low, "rtp_port_high": high})
    sip = SipService(settings, on_emergency=_never_called)
    probe = SipRegistrationProbe(lambda: sip)
    sip.start()
    try:
        assert sip.phone.sip.registration.wait_failures(1, 30)
        down = probe.check()
        assert not down.ok
        assert down.detail.startswith("not registered (retrying since 20"), down.detail
        registrar.start()
        assert sip.phone.wait_registered(40), sip.registration
        up = probe.check()
        assert up.ok
        assert up.detail == "registered; 0 alert calls up, 0 queued"
    finally:
        sip.stop()
        registrar.stop()

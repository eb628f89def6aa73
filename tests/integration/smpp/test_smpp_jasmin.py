"""SMS legs through SMPP to Jasmin, a real SMPP server, from `callcenter serve`'s composition root.

Jasmin routes our submits to the carrier stub behind it, which answers with delivery receipts and
sends responders' replies; Jasmin passes both back on our transceiver bind (tests/integration/smpp).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from callcenter.bootstrap import Container
from callcenter.domain.types import CallerTrust, LegStatus
from tests.integration.smpp.jasmin_rig import JasminRig
from tests.integration.smpp.service import serve
from tests.integration.twilio.rig import CALLER, GRID_WORKER, neighbour
from tests.smsc_stub import Fate
from tests.waiting import wait_for


def _sms_legs(container: Container, incident_id: str, phone: str) -> list[Any]:
    rows = [r for r in container.incident_store.legs(incident_id)
            if r.recipient_phone == phone and r.channel == "sms" and r.purpose == "alert"]
    return sorted(rows, key=lambda r: r.attempt)


def _statuses(container: Container, incident_id: str, phone: str) -> list[str]:
    return [str(r.status) for r in _sms_legs(container, incident_id, phone)]


def _digits(phone: str) -> str:
    return phone.lstrip("+")


def test_an_incidents_sms_legs_are_delivered_with_the_full_text_in_ucs2_parts(
        service: Container, jasmin: JasminRig) -> None:
    incident = service.runtime.engine.key_press(CALLER, CallerTrust.LOCAL)
    phones = [neighbour(1), neighbour(2), neighbour(3), GRID_WORKER]
    for phone in phones:
        wait_for(lambda p=phone: _statuses(service, incident.id, p) == ["delivered"], what=f"{phone} delivered")
    leg = _sms_legs(service, incident.id, neighbour(1))[0]
    parts = jasmin.carrier.received_for(_digits(neighbour(1)))
    assert len(parts) >= 2 and leg.provider_ref.startswith("smpp:")
    assert leg.provider_ref.count(",") == len(parts) - 1
    text = "".join(p.text() for p in sorted(parts, key=lambda p: p.udh()[5]))
    assert text.startswith("【995求助】") and "回复1确认前往" in text
    assert all(p.data_coding == 8 and p.udh()[:3] == b"\x05\x00\x03" for p in parts)
    assert leg.detail.startswith("delivered")


def test_a_failed_receipt_makes_the_leg_undelivered_with_its_reason_and_it_is_sent_again(
        service: Container, jasmin: JasminRig) -> None:
    jasmin.carrier.fates[_digits(neighbour(2))] = Fate("UNDELIV", "027")
    incident = service.runtime.engine.key_press(CALLER, CallerTrust.LOCAL)
    wait_for(lambda: _statuses(service, incident.id, neighbour(2)) == ["undelivered"] * 3, timeout=30,
             what="the first text and both redials undelivered")
    legs = _sms_legs(service, incident.id, neighbour(2))
    assert [leg.attempt for leg in legs] == [1, 2, 3]
    assert all(leg.detail == "undelivered: switched_off (UNDELIV/027)" for leg in legs)
    assert _statuses(service, incident.id, neighbour(1)) == ["delivered"]


def test_a_reply_arriving_over_smpp_acknowledges_and_is_confirmed(service: Container, jasmin: JasminRig,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    incident = service.runtime.engine.key_press(CALLER, CallerTrust.LOCAL)
    wait_for(lambda: _statuses(service, incident.id, neighbour(1)) == ["delivered"], what="the alert delivered")
    before = len(jasmin.carrier.received_for(_digits(neighbour(1))))
    jasmin.carrier.send_mo(_digits(neighbour(1)), "995", "到")
    wait_for(lambda: _statuses(service, incident.id, neighbour(1)) == ["acknowledged"], what="the reply counted")
    confirmation = wait_for(lambda: jasmin.carrier.received_for(_digits(neighbour(1)))[before:],
                            what="the confirmation sent back")
    assert "已确认您将前往" in "".join(p.text() for p in confirmation)
    acks = [e for e in service.incident_store.timeline(incident.id) if e.kind == "acknowledged"]
    assert len(acks) == 1, acks
    logged = caplog.text  # no text, reply or full number in the log, not even as the wire's hex
    assert _digits(neighbour(1)) not in logged and "到" not in logged and "确认" not in logged
    assert "到".encode("utf-16-be").hex() not in logged and "紧急".encode("utf-16-be").hex() not in logged


def test_receipts_for_texts_sent_before_our_restart_settle_their_legs(
        service: Container, jasmin: JasminRig, sqlite_url: str, tmp_path: Path) -> None:
    """The receipts come after the service stopped; the next one, on the same database, matches them
    to their legs through the stored provider_ref."""
    jasmin.carrier.receipt_delay = 4.0
    incident = service.runtime.engine.key_press(CALLER, CallerTrust.LOCAL)
    phones = [neighbour(1), neighbour(2), neighbour(3), GRID_WORKER]
    for phone in phones:
        wait_for(lambda p=phone: _statuses(service, incident.id, p) == ["submitted"], what=f"{phone} submitted")
    service.close()
    again = serve(jasmin, sqlite_url, tmp_path / "again")
    try:
        for phone in phones:
            wait_for(lambda p=phone: _statuses(again, incident.id, p) == ["delivered"], timeout=30,
                     what=f"{phone} delivered after the restart")
    finally:
        again.close()


def test_a_number_the_server_has_no_route_for_is_refused(service: Container, jasmin: JasminRig) -> None:
    """Jasmin answers ESME_RINVDSTADR: the channel raises ProviderRefused before anything is sent."""
    from callcenter.channels.errors import ProviderRefused
    from tests.integration.smpp.orders import order_to

    path = service.channel_packages["smpp"].path  # type: ignore[attr-defined]
    try:
        path.send(order_to("+861012345678"))
    except ProviderRefused as exc:
        assert "ESME_RINVDSTADR" in str(exc)
    else:
        raise AssertionError("a landline was accepted")
    assert jasmin.carrier.received_for("861012345678") == []
    assert LegStatus.SUBMITTED  # the engine records a refusal as FAILED; nothing was submitted

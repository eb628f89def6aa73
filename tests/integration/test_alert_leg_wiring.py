"""The answered-leg handler `callcenter serve` gives the SIP channel tells the neighbour's key at the
press, while the thanks is still to be spoken (docs/ivr.md). Before, the composition root built the
alert flow without its early report, and every key reached the incident only when the call ended."""

from __future__ import annotations

from pathlib import Path

from callcenter.bootstrap import build
from callcenter.domain.types import LegStatus
from callcenter.ivr.fakes import FakeCallMedia
from callcenter.settings import load_settings
from tests.sip.harness import free_udp_port
from tests.unit.ivr.test_ivr_handlers import order


def test_the_served_alert_handler_reports_the_key_when_it_is_pressed(sqlite_url: str, tmp_path: Path) -> None:
    settings = load_settings(database_url=sqlite_url, data_dir=tmp_path, engine={"call_channel": "sip"},
                             sip={"sip_port": 0, "registrar_port": free_udp_port()})  # nothing registers
    container = build(settings)
    try:
        handler = container.sip_service.channel.handler
        media = FakeCallMedia("+8613907170002", digits=[(9.0, "1")])
        told: list[tuple[LegStatus, str, float]] = []
        outcome = handler(order(), media, lambda status, detail: told.append((status, detail, media.now)))
        assert outcome is LegStatus.ACKNOWLEDGED
        (status, detail, at), = told
        assert (status, detail) == (LegStatus.ACKNOWLEDGED, "pressed 1")
        assert at < 10.0 < media.now  # told at the key (9 s into the call); the call went on with the thanks
    finally:
        container.close()

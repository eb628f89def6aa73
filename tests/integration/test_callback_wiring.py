"""The composition root gives the console the call-back of the configured call channel, always guarded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from callcenter.bootstrap import build
from callcenter.service.callback import SimulatedCallBack
from callcenter.service.guard import GuardedCallBack
from callcenter.settings import load_settings
from callcenter.sip.callback import SipCallBack
from callcenter.twilio.callback import TwilioCallBack
from tests.sip.harness import free_udp_port

TWILIO: dict[str, Any] = {"enabled": True, "account_sid": "AC" + "0" * 32, "auth_token": "t" * 32,
                          "api_base_url": "http://127.0.0.1:9", "call_from": ["+14155550100"]}


@pytest.mark.parametrize(("engine", "twilio", "expected"), [
    ({"call_channel": "simulated"}, {}, SimulatedCallBack),
    ({"call_channel": "sip"}, {}, SipCallBack),
    ({"call_channel": "twilio"}, TWILIO, TwilioCallBack),
])
def test_call_back_follows_the_call_channel(sqlite_url: str, tmp_path: Path, engine: dict[str, Any],
                                           twilio: dict[str, Any], expected: type) -> None:
    settings = load_settings(database_url=sqlite_url, data_dir=tmp_path, engine=engine, twilio=twilio,
                             sip={"sip_port": 0, "registrar_port": free_udp_port()})  # no registrar there
    container = build(settings)
    container.init_db()
    container.runtime.start()
    try:
        call_back = container.call_back
        assert isinstance(call_back, GuardedCallBack)
        assert isinstance(call_back.inner, expected)
        if isinstance(call_back.inner, SipCallBack):  # shares the alert channel's trunk channels
            assert call_back.inner.slots is container.sip_service.channel
            assert call_back.inner.phone is container.sip_service.phone
    finally:
        container.close()

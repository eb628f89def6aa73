"""SMPP settings and production checks: an enabled bind needs its account, production a real SMSC."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from callcenter.channels.errors import RateLimited
from callcenter.production import settings_refusals
from callcenter.settings import DEMO_SECRET, Settings
from callcenter.smpp.builder import send_limits, session_config

PRODUCTION: dict[str, Any] = {"mode": "production", "session_secret": "s" * 40}
ENABLED: dict[str, Any] = {"enabled": True, "system_id": "cc995", "password": "pw995"}


def test_disabled_smpp_needs_nothing() -> None:
    assert not Settings(**PRODUCTION).smpp.enabled
    assert not any("smpp" in problem for problem in settings_refusals(Settings(**PRODUCTION)))


def test_enabled_smpp_needs_a_system_id() -> None:
    with pytest.raises(ValidationError, match="system_id"):
        Settings(smpp={"enabled": True})


@pytest.mark.parametrize("password", ["", DEMO_SECRET])
def test_production_refuses_a_missing_or_demo_password(password: str) -> None:
    with pytest.raises(ValidationError, match=r"smpp\.password"):
        Settings(**PRODUCTION, smpp={**ENABLED, "password": password})


def test_production_start_refuses_a_loopback_smsc_and_the_placeholder_source() -> None:
    problems = settings_refusals(Settings(**PRODUCTION, smpp=ENABLED, engine={"sms_channel": "smpp"}))
    assert any("smpp.host" in p for p in problems) and any("smpp.source_addr" in p for p in problems)
    real = Settings(**PRODUCTION, smpp={**ENABLED, "host": "smsc.example.cn", "source_addr": "1069099500"},
                    engine={"sms_channel": "smpp"})
    assert not any("smpp" in p for p in settings_refusals(real))


def test_smpp_as_the_sms_channel_must_be_enabled() -> None:
    problems = settings_refusals(Settings(**PRODUCTION, engine={"sms_channel": "smpp"}))
    assert any("smpp.enabled" in p for p in problems)


def test_settings_reach_the_session_and_the_limits() -> None:
    smpp = Settings(smpp={**ENABLED, "window": 25, "throughput": 200, "enquire_link_seconds": 10,
                          "per_number_per_hour": 5}).smpp
    config = session_config(smpp)
    assert (config.window, config.throughput, config.enquire_link_seconds, config.password) == (25, 200, 10, "pw995")
    limits = send_limits(smpp)
    for _ in range(5):
        limits.take("+8613900000001", now=0.0)
    with pytest.raises(RateLimited, match="to one number"):
        limits.take("+8613900000001", now=1.0)

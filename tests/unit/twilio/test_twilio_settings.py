from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from callcenter.settings import DEMO_SECRET, Settings

ENABLED: dict[str, Any] = {"enabled": True, "account_sid": "AC" + "1" * 32, "call_from": ["+14155550100"]}
PRODUCTION: dict[str, Any] = {"mode": "production", "session_secret": "s" * 40}


def test_disabled_twilio_needs_nothing() -> None:
    assert not Settings(**PRODUCTION).twilio.enabled


def test_demo_mode_gets_the_demo_token() -> None:
    assert Settings(twilio=ENABLED).twilio.auth_token.get_secret_value() == DEMO_SECRET


@pytest.mark.parametrize("token", ["", DEMO_SECRET, "short"])
def test_production_refuses_a_missing_or_demo_token(token: str) -> None:
    with pytest.raises(ValidationError, match="auth_token"):
        Settings(**PRODUCTION, twilio={**ENABLED, "auth_token": token})


def test_production_accepts_a_real_token() -> None:
    settings = Settings(**PRODUCTION, twilio={**ENABLED, "auth_token": "f" * 32},
                        engine={"call_channel": "twilio", "sms_channel": "twilio"})
    assert settings.engine.call_channel == "twilio"


def test_enabled_needs_an_account_and_a_number() -> None:
    with pytest.raises(ValidationError, match=r"call_from or twilio\.sms_from"):
        Settings(twilio={"enabled": True, "account_sid": "AC1"})


@pytest.mark.parametrize("field", ["calls_per_second_per_number", "sms_per_second_per_account"])
def test_rates_must_be_positive(field: str) -> None:
    with pytest.raises(ValidationError):
        Settings(twilio={**ENABLED, field: 0})

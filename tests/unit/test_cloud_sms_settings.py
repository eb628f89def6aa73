"""Aliyun / Tencent SMS settings: secrets and push tokens refused when default outside demo, endpoint
overrides refused by the production checks."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from callcenter.production import cloud_sms_refusals
from callcenter.settings import DEMO_SECRET, Settings

PRODUCTION: dict[str, Any] = {"mode": "production", "session_secret": "s" * 40}
TOKEN = "t" * 32
ALIYUN: dict[str, Any] = {"enabled": True, "access_key_id": "LTAI5t0000", "access_key_secret": "k" * 30,
                          "callback_token": TOKEN}
TENCENT: dict[str, Any] = {"enabled": True, "secret_id": "AKID0000", "secret_key": "k" * 32, "sdk_app_id": "1400",
                           "callback_token": TOKEN}


def test_demo_mode_fills_in_demo_secrets() -> None:
    settings = Settings(aliyun_sms={"enabled": True, "access_key_id": "LTAI"},
                        tencent_sms={"enabled": True, "secret_id": "AKID", "sdk_app_id": "1400"})
    assert settings.aliyun_sms.access_key_secret.get_secret_value() == DEMO_SECRET
    assert settings.tencent_sms.callback_token.get_secret_value() == DEMO_SECRET


@pytest.mark.parametrize(("section", "values", "field"), [
    ("aliyun_sms", {**ALIYUN, "access_key_secret": ""}, "access_key_secret"),
    ("aliyun_sms", {**ALIYUN, "access_key_secret": DEMO_SECRET}, "access_key_secret"),
    ("aliyun_sms", {**ALIYUN, "callback_token": "short"}, "callback_token"),
    ("tencent_sms", {**TENCENT, "secret_key": DEMO_SECRET}, "secret_key"),
    ("tencent_sms", {**TENCENT, "callback_token": DEMO_SECRET}, "callback_token"),
    ("tencent_sms", {**TENCENT, "sdk_app_id": ""}, "sdk_app_id"),
])
def test_production_refuses_default_secrets(section: str, values: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(**PRODUCTION, **{section: values})


def test_production_accepts_real_secrets_and_refuses_an_emulator_endpoint() -> None:
    settings = Settings(**PRODUCTION, aliyun_sms=ALIYUN, tencent_sms=TENCENT, engine={"sms_channel": "aliyun"})
    assert cloud_sms_refusals(settings) == []
    pointed = Settings(**PRODUCTION, aliyun_sms={**ALIYUN, "endpoint": "127.0.0.1:9000", "protocol": "http"},
                       tencent_sms=TENCENT)
    assert [p.split(".")[0] for p in cloud_sms_refusals(pointed)] == ["aliyun_sms"]

"""Test rig: the composition root (callcenter.bootstrap) with Aliyun SMS and Tencent Cloud SMS enabled, their
official SDKs pointed at the local emulators, our app served over HTTP for the emulators' pushes, and the
real incident engine between them. Calls go to simulated phones slowed down a hundredfold, so that the
SMS legs and replies decide what happens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from callcenter.api.app import create_app
from callcenter.bootstrap import ConsoleContainer, build
from callcenter.domain.incident import Incident
from callcenter.domain.types import CallerTrust
from callcenter.settings import load_settings
from tests.cnsms_emulator import AliyunEmulator, TencentEmulator
from tests.integration.twilio.rig import CALLER, LateApp, group_directory, test_policy
from tests.twilio_emulator import ServerThread

ROOT = Path(__file__).resolve().parents[3]
ALIYUN_TOKEN = "aliyun-push-token-" + "a" * 20
TENCENT_TOKEN = "tencent-push-token-" + "t" * 20


def approved(provider: str) -> tuple[str, dict[str, str]]:
    """The signature and templates as the provider's console holds them (config/sms.yaml, read as data)."""
    book = yaml.safe_load((ROOT / "config" / "sms.yaml").read_text(encoding="utf-8"))["providers"][provider]
    return book["signature"], {str(t["code"]): t["text"] for t in book["templates"].values()}


def aliyun_emulator(**kwargs: Any) -> AliyunEmulator:
    return AliyunEmulator(*approved("aliyun"), **kwargs)


def tencent_emulator(**kwargs: Any) -> TencentEmulator:
    return TencentEmulator(*approved("tencent"), **kwargs)


def _common(endpoint: str, token: str) -> dict[str, Any]:
    return {"enabled": True, "endpoint": endpoint, "protocol": "http", "callback_token": token,
            "request_timeout_seconds": 1.0, "backoff_seconds": 0.05, "report_wait_seconds": 1.0, "poll_seconds": 0.2,
            "report_silence_seconds": 60.0}


def aliyun_settings(emulator: AliyunEmulator, **overrides: Any) -> dict[str, Any]:
    return {**_common(emulator.endpoint, ALIYUN_TOKEN), "access_key_id": emulator.access_key_id,
            "access_key_secret": emulator.access_key_secret, **overrides}


def tencent_settings(emulator: TencentEmulator, **overrides: Any) -> dict[str, Any]:
    return {**_common(emulator.endpoint, TENCENT_TOKEN), "secret_id": emulator.secret_id,
            "secret_key": emulator.secret_key, "sdk_app_id": emulator.sdk_app_id, **overrides}


@dataclass
class CloudRig:
    container: ConsoleContainer
    server: ServerThread
    aliyun: AliyunEmulator
    tencent: TencentEmulator

    def press(self, caller: str = CALLER) -> Incident:
        return self.container.runtime.engine.key_press(caller, CallerTrust.LOCAL)

    def sms_legs(self, incident_id: str, phone: str) -> list[Any]:
        rows = [r for r in self.container.incident_store.legs(incident_id)
                if r.recipient_phone == phone and r.channel == "sms" and r.purpose == "alert"]
        return sorted(rows, key=lambda r: r.attempt)

    def statuses(self, incident_id: str, phone: str) -> list[str]:
        return [str(r.status) for r in self.sms_legs(incident_id, phone)]

    def url(self, provider: str, kind: str, token: str = "") -> str:
        token = token or (ALIYUN_TOKEN if provider == "aliyun" else TENCENT_TOKEN)
        return f"{self.server.base_url}/sms/{provider}/{token}/{kind}"


@contextmanager
def cloud_rig(database_url: str, tmp_path: Path, aliyun: AliyunEmulator, tencent: TencentEmulator,
              sms_channel: str = "aliyun", neighbours: int = 3, sms_routes: tuple[str, ...] = ("aliyun", "tencent"),
              **overrides: Any) -> Iterator[CloudRig]:
    """The served container; ``overrides`` per settings section (``aliyun_sms={...}``) replace the defaults;
    ``sms_routes``: the order config/channels.yaml gives mobiles' SMS paths."""
    late = LateApp()
    server = ServerThread(late)
    sections = {"aliyun_sms": aliyun_settings(aliyun), "tencent_sms": tencent_settings(tencent)}
    for section, values in overrides.items():
        sections[section] = {**sections.get(section, {}), **values}
    routes = tmp_path / "channels.yaml"
    routes.write_text(f"call: {{mobile: [sip], landline: [sip]}}\nsms: {{mobile: [{', '.join(sms_routes)}]}}\n",
                      encoding="utf-8")
    settings = load_settings(
        database_url=database_url, data_dir=tmp_path, http={"public_base_url": server.base_url},
        twilio={"routes_file": routes},
        engine={"call_channel": "simulated", "sms_channel": sms_channel, "simulated_time_scale": 100,
                "policy_file": test_policy(tmp_path)},
        **sections)
    container = build(settings)
    container.init_db()
    container.directory = group_directory(neighbours)  # type: ignore[assignment]
    late.app = create_app(container)
    server.start()
    rig = CloudRig(container, server, aliyun, tencent)
    aliyun.report_url, aliyun.reply_url = rig.url("aliyun", "report"), rig.url("aliyun", "reply")
    tencent.report_url, tencent.reply_url = rig.url("tencent", "status"), rig.url("tencent", "reply")
    container.runtime.start()
    try:
        yield rig
    finally:
        server.stop()
        container.close()

"""The composition root's channel registry: every kind the settings accept has a builder, and the
channels it builds are complete when constructed (nothing set on them afterwards)."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from callcenter.adapters.simulated import SimulatedPhones
from callcenter.bootstrap import CHANNEL_BUILDERS, ROUTE_PATHS, ConsoleContainer
from callcenter.channels.builder import LateSink
from callcenter.domain.types import Channel
from callcenter.settings import EngineSettings, load_settings


def test_every_kind_the_settings_accept_has_a_builder() -> None:
    call_kinds = get_args(EngineSettings.model_fields["call_channel"].annotation)
    sms_kinds = get_args(EngineSettings.model_fields["sms_channel"].annotation)
    assert set(call_kinds) | set(sms_kinds) == set(CHANNEL_BUILDERS)


def test_the_route_file_may_name_the_routable_packages_only() -> None:
    assert {"sip", "twilio", "aliyun", "tencent", "smpp"} == ROUTE_PATHS


@pytest.mark.parametrize("kind", ["simulated", "recording"])
def test_simulated_phones_report_to_the_engine_from_construction(tmp_path: Path, kind: str) -> None:
    settings = load_settings(data_dir=tmp_path, engine={"call_channel": kind, "sms_channel": kind,
                                                        "placement_log": tmp_path / "placements.jsonl"})
    channels = ConsoleContainer(settings)._channels()
    phones = [channel for channel in channels.values() if isinstance(channel, SimulatedPhones)]
    assert len(phones) == len(Channel)
    assert all(isinstance(channel.sink, LateSink) for channel in phones)
    assert channels[Channel.SMS].name == ("simulated-sms" if kind == "simulated" else "recording-sms")


def test_the_sip_channel_is_wired_when_built(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, engine={"call_channel": "sip"}, sip={"sip_port": 0})
    container = ConsoleContainer(settings)
    try:
        channels = container._channels()
        sip = container.sip_service.channel
        assert channels[Channel.CALL] is sip
        assert (sip.sink, sip.holder, sip.prepare) == (container.channel_packages["sip"].context.outcomes,
                                                       container.holder, container.announcement_warmer)
        assert channels[Channel.SMS].name == "simulated-sms"
    finally:
        container.close()


def test_the_smpp_channel_is_wired_when_built_and_binds_only_when_started(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, engine={"sms_channel": "smpp"},
                             smpp={"enabled": True, "system_id": "cc995", "password": "secret", "port": 9})
    container = ConsoleContainer(settings)
    try:
        channels = container._channels()
        package = container.channel_packages["smpp"]
        path = package.path  # type: ignore[attr-defined]
        assert channels[Channel.SMS].name == "sms-smpp"
        assert path.sink is package.context.outcomes and not path.session.bound
        assert path.session.config.port == 9 and path.session.config.system_id == "cc995"
        assert package.backups() == {}  # it is the SMS channel itself, not a backup
    finally:
        container.close()


def test_the_smpp_path_stands_behind_twilio_sms_in_one_failover_channel(tmp_path: Path) -> None:
    """Twilio's SMS channel is a failover channel of its own: its paths join the SMPP path in one,
    routed by config/channels.yaml (mobile: smpp, then twilio)."""
    from callcenter.channels.failover import FailoverChannel

    settings = load_settings(data_dir=tmp_path, engine={"sms_channel": "twilio"},
                             twilio={"enabled": True, "account_sid": "AC" + "1" * 32, "sms_from": ["+14155550200"]},
                             smpp={"enabled": True, "system_id": "cc995", "password": "secret", "port": 9})
    container = ConsoleContainer(settings)
    try:
        sms = container._channels()[Channel.SMS]
        assert isinstance(sms, FailoverChannel) and set(sms.paths) == {"twilio", "smpp"}
        assert all(hasattr(path, "is_healthy") for path in sms.paths.values())
        assert sms.routes.paths_for(Channel.SMS, "+8613900000001") == ("aliyun", "tencent", "smpp", "twilio")
    finally:
        container.close()

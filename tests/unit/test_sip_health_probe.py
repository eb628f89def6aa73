"""The SIP registration probe in /health, read from a fake SIP service, and its wiring in the container."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callcenter.adapters.health import SipHealthSource, SipRegistrationProbe
from callcenter.bootstrap import ConsoleContainer
from callcenter.settings import load_settings


@dataclass
class FakeSip:
    state: dict[str, object] = field(default_factory=dict)

    def health(self) -> dict[str, object]:
        return self.state


def probe_of(sip: SipHealthSource | None) -> SipRegistrationProbe:
    return SipRegistrationProbe(lambda: sip)


def test_registered_phone_is_healthy_and_reports_its_load() -> None:
    result = probe_of(FakeSip({"registered": True, "active_alert_calls": 3, "queued_alert_calls": 7})).check()
    assert result.ok
    assert result.detail == "registered; 3 alert calls up, 7 queued"


def test_unregistered_phone_degrades_health_with_the_reason() -> None:
    sip = FakeSip({"registered": False, "retrying_since": "2026-11-22T06:00:00+00:00",
                   "last_error": "timeout", "active_alert_calls": 0, "queued_alert_calls": 2})
    result = probe_of(sip).check()
    assert not result.ok
    assert result.detail == (
        "not registered (retrying since 2026-11-22T06:00:00+00:00: timeout); 0 alert calls up, 2 queued"
    )


def test_phone_never_answered_says_so() -> None:
    result = probe_of(FakeSip({"registered": False, "retrying_since": None, "last_error": None})).check()
    assert not result.ok
    assert result.detail.startswith("not registered (retrying since start: no answer)")


def test_no_sip_service_in_this_process_is_not_a_failure() -> None:
    result = probe_of(None).check()
    assert result.ok
    assert result.detail == "not running in this process"


@pytest.mark.parametrize(("call_channel", "names"), [
    ("sip", ["database", "scheduler", "outage", "sip"]),
    ("simulated", ["database", "scheduler", "outage"]),
])
def test_container_adds_the_sip_probe_only_for_the_sip_channel(tmp_path: Path, call_channel: str,
                                                             names: list[str]) -> None:
    settings = load_settings(data_dir=tmp_path, engine={"call_channel": call_channel})
    container = ConsoleContainer(settings)
    assert [probe.name for probe in container.health_probes] == names
    if call_channel == "sip":  # nothing built yet: the probe must not build the SIP phone itself
        assert container.health_probes[-1].check().detail == "not running in this process"
        assert "sip_service" not in container.__dict__

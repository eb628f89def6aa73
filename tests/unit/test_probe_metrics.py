"""Health probes as gauges: 1 for a passing probe, 0 for a degraded one, one sample per probe."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest

from callcenter.adapters.health import ProbeResult
from callcenter.web.probe_metrics import ProbeCollector


@dataclass
class Probe:
    name: str
    ok: bool

    def check(self) -> ProbeResult:
        return ProbeResult(self.ok, "fine" if self.ok else "not registered")


def scrape(*probes: Probe) -> str:
    registry = CollectorRegistry()
    registry.register(ProbeCollector(list(probes)))
    return generate_latest(registry).decode()


def test_each_probe_is_one_gauge_sample() -> None:
    text = scrape(Probe("database", True), Probe("sip", False))
    assert 'callcenter_health_probe_ok{probe="database"} 1.0' in text
    assert 'callcenter_health_probe_ok{probe="sip"} 0.0' in text


def test_the_gauge_follows_the_probe_at_every_scrape() -> None:
    sip = Probe("sip", False)
    assert 'probe="sip"} 0.0' in scrape(sip)
    sip.ok = True
    assert 'probe="sip"} 1.0' in scrape(sip)

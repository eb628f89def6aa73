"""The health probes as Prometheus gauges: a scrape shows what ``/health`` shows (SIP unregistered, say)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from callcenter.adapters.health import HealthProbe

__all__ = ["ProbeCollector"]


class ProbeCollector(Collector):
    def __init__(self, probes: Sequence[HealthProbe]) -> None:
        self.probes = probes

    def collect(self) -> Iterator[Metric]:
        metric = GaugeMetricFamily("callcenter_health_probe_ok",
                                   "1 while the health probe passes, 0 while that part is degraded", labels=["probe"])
        for probe in self.probes:
            metric.add_metric([probe.name], 1.0 if probe.check().ok else 0.0)
        yield metric

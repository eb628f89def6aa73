"""RTP dropped for lack of trust, read from this process at scrape time: a forged key-press attempt
(packets sprayed at the RTP range) shows on /metrics (docs/security.md, "Media (RTP)")."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from callcenter.sip.client import ForeignSignalling
from callcenter.sip.rtp import MediaDropCounts


class MediaTrustCollector(Collector):
    def __init__(self, counts: Callable[[], MediaDropCounts]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Metric]:
        counts = self.counts()
        dropped = CounterMetricFamily(
            "callcenter_rtp_untrusted_packets",
            "RTP packets dropped since start: from another source than the call's SDP named (foreign_source), "
            "or at an alert call's port before its answer was known (before_answer)", labels=["reason"])
        dropped.add_metric(["foreign_source"], counts.foreign)
        dropped.add_metric(["before_answer"], counts.early)
        yield dropped
        yield CounterMetricFamily("callcenter_rtp_calls_with_foreign_packets",
                                  "Calls since start whose RTP port received packets from a stranger",
                                  value=counts.calls_with_foreign)


class SignallingTrustCollector(Collector):
    def __init__(self, foreign: ForeignSignalling) -> None:
        self.foreign = foreign

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily("callcenter_sip_foreign_datagrams",
                                  "SIP datagrams dropped since start because they did not come from the proxy",
                                  value=self.foreign.dropped)

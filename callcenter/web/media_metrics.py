"""RTP dropped for lack of trust, read from this process at scrape time: a forged key-press attempt
(packets sprayed at the RTP range) shows on /metrics (docs/security.md, "Media (RTP)"). And the media
quality of ended calls, from RTP received and the far ends' RTCP reports (docs/sip.md, "RTCP")."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from callcenter.sip.client import ForeignSignalling
from callcenter.sip.rtp import MediaDropCounts, MediaQualityTotals

__all__ = ["MediaQualityCollector", "MediaTrustCollector", "SignallingTrustCollector"]


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
        dropped.add_metric(["rtcp_foreign_source"], counts.rtcp_foreign)
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


class MediaQualityCollector(Collector):
    """Ended calls' RTP as we received it (loss, jitter) and as the far ends' RTCP reported ours."""

    def __init__(self, totals: Callable[[], MediaQualityTotals]) -> None:
        self.totals = totals

    def collect(self) -> Iterator[Metric]:
        t = self.totals()
        yield CounterMetricFamily("callcenter_rtp_calls_measured", "Calls ended since start whose media was measured",
                                  value=t.calls)
        yield CounterMetricFamily("callcenter_rtp_packets_expected", "RTP packets the far ends sent us (by sequence)",
                                  value=t.expected)
        yield CounterMetricFamily("callcenter_rtp_packets_lost", "RTP packets the far ends sent us that never came",
                                  value=t.lost)
        yield CounterMetricFamily("callcenter_rtp_jitter_milliseconds_sum",
                                  "Interarrival jitter (RFC 3550) at each measured call's end, summed",
                                  value=t.jitter_ms_sum)
        yield GaugeMetricFamily("callcenter_rtp_jitter_milliseconds_max", "The largest jitter of an ended call",
                                value=t.jitter_ms_max)
        yield CounterMetricFamily("callcenter_rtcp_far_end_reports", "Ended calls whose far end reported on our RTP",
                                  value=t.far_end_reports)
        yield CounterMetricFamily("callcenter_rtcp_far_end_lost",
                                  "Our RTP packets the far ends' RTCP reported lost", value=t.far_end_lost)
        yield GaugeMetricFamily("callcenter_rtcp_far_end_jitter_milliseconds_max",
                                "The largest jitter a far end reported on our RTP", value=t.far_end_jitter_ms_max)
        packets = CounterMetricFamily("callcenter_rtcp_packets", "RTCP compound packets of ended calls",
                                      labels=["direction"])
        packets.add_metric(["sent"], t.rtcp_sent)
        packets.add_metric(["received"], t.rtcp_received)
        yield packets

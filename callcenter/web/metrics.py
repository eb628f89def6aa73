"""Prometheus metrics read from the database at scrape time, so every instance reports the same truth."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from callcenter.adapters.health import OutageView
from callcenter.db.metrics_queries import incident_counts
from callcenter.db.press_ledger_repo import SqlPressRecords
from callcenter.db.snapshot import database_unavailable
from callcenter.web.statistics import first_ack_seconds

__all__ = ["IncidentCollector", "OutageCollector", "WithoutDatabase"]

ACK_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
ACK_WINDOW = timedelta(hours=24)


class IncidentCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        counts = incident_counts(self.engine, datetime.now(UTC) - ACK_WINDOW)
        now = datetime.now(UTC)
        banned = [r for r in SqlPressRecords(self.engine).sources() if r.banned(now)]
        yield _open_incidents(counts.by_status)
        yield _labelled("callcenter_alert_legs", "Alert legs by channel and outcome", ["channel", "status"],
                        list(counts.legs))
        yield _labelled("callcenter_channel_errors", "Alert legs a channel failed to place", ["provider"],
                        [(p or "unassigned", n) for p, n in counts.failures])
        yield _labelled("callcenter_sms_undelivered", "SMS legs a provider reported undelivered, by reason",
                        ["provider", "reason"], [(p or "unassigned", r, n) for p, r, n in counts.undelivered])
        yield GaugeMetricFamily("callcenter_queue_depth", "Alert legs stored but not yet placed",
                                value=counts.queue_depth)
        yield GaugeMetricFamily("callcenter_incidents_overdue",
                                "Open incidents the auditor found with an escalation or leg overdue",
                                value=counts.overdue)
        yield _first_ack_histogram([first_ack_seconds(r.opened_at, r.acks) for r in counts.recent])
        yield _labelled("callcenter_incidents_by_caller_trust",
                        "Incidents stored, by how far the edge verified the caller", ["trust"],
                        list(counts.by_trust))
        yield GaugeMetricFamily("callcenter_incidents_held",
                                "Open incidents of unverified callers whose neighbours wait for an operator",
                                value=counts.held)
        yield GaugeMetricFamily("callcenter_sources_banned",
                                "Network sources banned for too many unverified presses", value=len(banned))
        yield GaugeMetricFamily("callcenter_presses_from_banned_sources",
                                "Unverified presses from sources while banned (each held for an operator)",
                                value=sum(r.presses_while_banned for r in banned))


def _open_incidents(by_status: dict[str, int]) -> Metric:
    metric = GaugeMetricFamily("callcenter_incidents_open", "Open incidents by status", labels=["status"])
    for status in ("alerting", "acknowledged"):
        metric.add_metric([status], by_status.get(status, 0))
    return metric


def _labelled(name: str, doc: str, labels: list[str], rows: list[tuple[object, ...]]) -> Metric:
    metric = GaugeMetricFamily(name, doc, labels=labels)
    for *values, count in rows:
        metric.add_metric([str(v) for v in values], float(str(count)))
    return metric


def _first_ack_histogram(samples: list[float | None]) -> Metric:
    values = sorted(s for s in samples if s is not None)
    buckets = [(str(b), sum(1 for v in values if v <= b)) for b in ACK_BUCKETS]
    buckets.append(("+Inf", len(values)))
    metric = HistogramMetricFamily("callcenter_time_to_first_ack_seconds",
                                   "Seconds from key press to the first acknowledgement (incidents of the last 24 h)")
    metric.add_metric([], buckets, sum_value=sum(values))
    return metric


class OutageCollector(Collector):
    """Degraded mode (database outage), read from this process: no database needed to scrape it."""

    def __init__(self, view: Callable[[], OutageView]) -> None:
        self.view = view

    def collect(self) -> Iterator[Metric]:
        view = self.view()
        state = view.state
        age = view.snapshot_age_seconds
        yield GaugeMetricFamily("callcenter_database_up", "1 when the database answers", value=int(view.database_up))
        yield GaugeMetricFamily("callcenter_degraded",
                                "1 while key presses are taken without the database (spooled, from the snapshot)",
                                value=int(view.degraded))
        yield GaugeMetricFamily("callcenter_spooled_incidents", "Incidents opened during a database outage, not yet "
                                "stored", value=state.spooled_incidents if state else 0)
        yield GaugeMetricFamily("callcenter_spool_records", "Spooled records waiting for the database",
                                value=state.spooled_records if state else 0)
        yield CounterMetricFamily("callcenter_spooled_presses", "Key presses spooled since start",
                                  value=state.spooled_presses if state else 0)
        yield CounterMetricFamily("callcenter_spool_replayed_records", "Spooled records stored since start",
                                  value=state.replayed_records if state else 0)
        yield GaugeMetricFamily("callcenter_directory_snapshot_age_seconds",
                                "Age of the local directory copy presses use during an outage (NaN: none)",
                                value=math.nan if age is None else age)
        yield GaugeMetricFamily("callcenter_directory_snapshot_households", "Households in the directory snapshot",
                                value=view.snapshot_households)


class WithoutDatabase(Collector):
    """Another collector whose database reads are skipped while the database is unreachable, so the
    scrape still answers (with ``callcenter_database_up`` 0) instead of failing whole."""

    def __init__(self, inner: Collector) -> None:
        self.inner = inner

    def collect(self) -> Iterator[Metric]:
        try:
            metrics = list(self.inner.collect())
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            return
        yield from metrics

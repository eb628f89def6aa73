"""Prometheus metrics read from the database at scrape time, so every instance reports the same truth."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from callcenter.db.incident_tables import AlertLegRow, IncidentEventRow, IncidentRow
from callcenter.web.statistics import first_ack_seconds

_inc = IncidentRow.__table__  # type: ignore[attr-defined]
_leg = AlertLegRow.__table__  # type: ignore[attr-defined]
_event = IncidentEventRow.__table__  # type: ignore[attr-defined]
ACK_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
ACK_WINDOW = timedelta(hours=24)


class IncidentCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        with self.engine.connect() as conn:
            counts = conn.execute(select(_inc.c.status, func.count()).group_by(_inc.c.status)).all()
            by_status: dict[str, int] = {str(s): int(n) for s, n in counts}
            legs = conn.execute(select(_leg.c.channel, _leg.c.status, func.count())
                                .group_by(_leg.c.channel, _leg.c.status)).all()
            errors = conn.execute(select(_leg.c.provider, func.count()).where(_leg.c.status == "failed")
                                  .group_by(_leg.c.provider)).all()
            depth = conn.execute(select(func.count()).where(_leg.c.status == "pending")).scalar_one()
            overdue = conn.execute(select(func.count(func.distinct(_event.c.incident_id)))
                                   .select_from(_event.join(_inc, _inc.c.id == _event.c.incident_id))
                                   .where(_event.c.kind == "audit_overdue",
                                          _inc.c.status.in_(("alerting", "acknowledged")))).scalar_one()
            recent = conn.execute(select(_inc.c.opened_at, _inc.c.acks).where(
                _inc.c.opened_at >= datetime.now(UTC) - ACK_WINDOW)).all()
        yield _open_incidents(by_status)
        yield _labelled("callcenter_alert_legs", "Alert legs by channel and outcome", ["channel", "status"],
                        [tuple(r) for r in legs])
        yield _labelled("callcenter_channel_errors", "Alert legs a channel failed to place", ["provider"],
                        [(p or "unassigned", n) for p, n in errors])
        yield GaugeMetricFamily("callcenter_queue_depth", "Alert legs stored but not yet placed", value=depth)
        yield GaugeMetricFamily("callcenter_incidents_overdue",
                                "Open incidents the auditor found with an escalation or leg overdue", value=overdue)
        yield _first_ack_histogram([first_ack_seconds(r.opened_at, r.acks) for r in recent])


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

"""Pure parts of the console: queue order, statistics, SVG charts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from callcenter.api.incident_view import level_names, queue_order, summary
from callcenter.web.charts import bar_chart, column_chart
from callcenter.web.statistics import compute, first_ack_seconds, percentile

T0 = datetime(2026, 3, 14, 1, 30, tzinfo=UTC)  # 09:30 in China
PLAN = {"levels": [{"index": 0, "name": "联防组"}, {"index": 1, "name": "网格"}, {"index": 2, "name": "派出所"}]}


def row(ident: str, *, minutes: int = 0, level: int = 0, urgent: bool = False, household: int | None = 1,
        silent: bool = False, acks: list[dict[str, Any]] | None = None, kind: str = "unknown") -> SimpleNamespace:
    return SimpleNamespace(
        id=ident, status="alerting", emergency_type=kind, label=ident, address="", caller="+867176100100",
        household_id=household, grid_id=3, grid_name="第一网格", village_name="石门村", level=level, plan=PLAN,
        urgent=urgent, silent=silent, caller_trust="local", press_count=1, acks=acks or [], ack_count=len(acks or []),
        opened_at=T0 + timedelta(minutes=minutes), next_escalation_at=None, closed_at=None)


def ack(seconds: float) -> dict[str, Any]:
    return {"name": "王二", "phone": "+8613800000002", "at": (T0 + timedelta(seconds=seconds)).isoformat()}


def test_queue_puts_attention_first_then_higher_levels_then_the_longest_waiting() -> None:
    confirmed = row("confirmed", minutes=-5)
    confirmed.status = "acknowledged"
    items = [summary(r, level_names(r)) for r in (
        row("calm-old", minutes=0), row("calm-new", minutes=5), row("climbed", minutes=6, level=2),
        row("silent", minutes=7, silent=True), row("unknown", minutes=8, household=None),
        row("urgent", minutes=9, urgent=True, level=3), confirmed)]
    assert [i.id for i in queue_order(items)] == ["urgent", "silent", "unknown", "climbed", "calm-old", "calm-new",
                                                  "confirmed"]


def test_summary_names_the_level_and_flags() -> None:
    s = summary(row("x", level=1, household=None, acks=[ack(20)]), level_names(row("x")))
    assert (s.level_name, s.levels_total, s.unknown_caller, s.attention, s.acks) == ("网格", 3, True, True, 1)
    assert s.caller_display == "0717-6100100"


def test_first_ack_and_percentiles() -> None:
    assert first_ack_seconds(T0, []) is None
    assert first_ack_seconds(T0, [ack(90), ack(30)]) == 30
    assert percentile([], 50) is None
    assert percentile([10, 20, 30, 40], 50) == 20
    assert percentile([10, 20, 30, 40], 90) == 40


def test_statistics_of_a_period() -> None:
    incidents = [row("a", acks=[ack(20)], kind="fire"), row("b", acks=[ack(90)], level=1),
                 row("c", minutes=60 * 24, level=2), row("d", acks=[ack(40)], kind="fire")]
    legs = [SimpleNamespace(status=s, grid_name=g) for s, g in
            (("acknowledged", "一"), ("no_answer", "一"), ("declined", "二"), ("answered_without_key", "二"),
             ("busy", "二"))]
    s = compute(incidents, legs, date(2026, 3, 14), date(2026, 3, 16), 60, {"fire": "火灾", "unknown": "类型未知"})
    assert s.days == [(date(2026, 3, 14), 3), (date(2026, 3, 15), 1), (date(2026, 3, 16), 0)]
    assert s.by_type == [("火灾", 2), ("类型未知", 2)]
    assert (s.total, s.acknowledged, s.p50, s.p90) == (4, 3, 40, 90)
    assert s.within_target == 2 / 3
    assert s.levels == [("联防组", 1.0), ("网格", 0.5), ("派出所", 0.25)]
    assert [(g.grid, g.answered, g.placed) for g in s.grids] == [("二", 1, 3), ("一", 1, 2)]


def test_charts_are_svg_with_escaped_labels() -> None:
    svg = column_chart([("03-14", 3), ("<b>", 1)], "每日警情", target=2)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "&lt;b&gt;" in svg and "<b>" not in svg
    assert svg.count('class="bar"') == 2
    shares = bar_chart([("联防组", 1.0), ("网格", 0.5)], "到达比例", as_share=True)
    assert "100%" in shares and "50%" in shares

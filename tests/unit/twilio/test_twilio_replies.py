from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from callcenter.twilio.replies import OpenAlert, ReplyKind, classify, confirmation, newest

ZONE = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("body", "kind"), [
    ("1", ReplyKind.ACKNOWLEDGE), (" 1 ", ReplyKind.ACKNOWLEDGE), ("１", ReplyKind.ACKNOWLEDGE),
    ("到", ReplyKind.ACKNOWLEDGE), ("收到", ReplyKind.ACKNOWLEDGE), ("收到！", ReplyKind.ACKNOWLEDGE),
    ("收到。", ReplyKind.ACKNOWLEDGE), ("2", ReplyKind.DECLINE), ("２", ReplyKind.DECLINE),
    ("不到", ReplyKind.NOTE), ("12", ReplyKind.NOTE), ("到了吗", ReplyKind.NOTE), ("", ReplyKind.NOTE),
    ("0", ReplyKind.NOTE), ("我在外地，来不了", ReplyKind.NOTE), ("11", ReplyKind.NOTE),
])
def test_only_exact_words_acknowledge_or_decline(body: str, kind: ReplyKind) -> None:
    assert classify(body) == kind


def _alert(incident_id: str, hour: int, label: str) -> OpenAlert:
    return OpenAlert(incident_id, label, datetime(2026, 3, 14, hour, 0, tzinfo=UTC), "王芳", "+8613900000050", None)


def test_newest_open_incident_is_chosen() -> None:
    alerts = [_alert("a", 1, "张家"), _alert("c", 3, "李家"), _alert("b", 2, "王家")]
    assert newest(alerts).incident_id == "c"


def test_confirmation_names_the_incident_and_counts_when_several_are_open() -> None:
    one = confirmation(ReplyKind.ACKNOWLEDGE, _alert("a", 1, "张家"), 1, ZONE)
    assert "张家" in one and "09:00" in one and "起" not in one
    several = confirmation(ReplyKind.DECLINE, _alert("a", 1, "张家"), 3, ZONE)
    assert "无法前往" in several and "3起" in several and "最新" in several

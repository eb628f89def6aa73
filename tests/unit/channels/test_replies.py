from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast
from zoneinfo import ZoneInfo

import pytest

from callcenter.channels.replies import (
    NO_OPEN_INCIDENT,
    OpenAlert,
    ReplyKind,
    SmsReplies,
    classify,
    confirmation,
    newest,
)
from callcenter.domain.incident import Incident
from callcenter.domain.types import Actor, LegStatus
from contacts.phones import PhonePolicy

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


@dataclass
class Engine:
    """The engine commands a reply uses, recorded; a leg in ``unknown`` raises as the engine does."""

    calls: list[tuple[str, ...]] = field(default_factory=list)
    unknown: set[str] = field(default_factory=set)

    def leg_outcome(self, leg_id: str, status: LegStatus, detail: str = "", provider_ref: str = "") -> None:
        if leg_id in self.unknown:
            raise LookupError(leg_id)
        self.calls.append(("outcome", leg_id, status, detail))

    def add_note(self, incident_id: str, text: str, actor: Actor) -> Incident:
        self.calls.append(("note", incident_id, text, actor.kind))
        return cast(Incident, None)

    def acknowledge_on_behalf(self, incident_id: str, recipient_key: str, actor: Actor) -> Incident:
        self.calls.append(("acknowledge", incident_id, recipient_key, actor.kind))
        return cast(Incident, None)


@dataclass
class Alerts:
    by_phone: dict[str, list[OpenAlert]]

    def open_alerts_for(self, phone: str) -> list[OpenAlert]:
        return self.by_phone.get(phone, [])


WANG = "+8613900000050"


def _replies(engine: Engine, *alerts: OpenAlert) -> SmsReplies:
    return SmsReplies(engine, Alerts({WANG: list(alerts)}), ZONE, PhonePolicy(), provider="aliyun")


def test_reply_moves_the_sms_leg_and_names_the_provider() -> None:
    engine = Engine()
    sms = OpenAlert("a", "张家", datetime(2026, 3, 14, 1, tzinfo=UTC), "王芳", WANG, "a/w/sms/alert/1")
    answer = _replies(engine, sms).answer("13900000050", " 1 ")
    assert engine.calls == [("outcome", "a/w/sms/alert/1", LegStatus.ACKNOWLEDGED, "aliyun reply 1")]
    assert "已确认您将前往" in answer and "张家" in answer


def test_reply_without_an_sms_leg_acknowledges_for_them_and_a_decline_is_a_note() -> None:
    engine = Engine()
    replies = _replies(engine, _alert("a", 1, "张家"))
    replies.answer(WANG, "到")
    replies.answer(WANG, "2")
    assert engine.calls == [("acknowledge", "a", WANG, "sms-reply"), ("note", "a", "短信回复（王芳）：2", "responder")]


def test_reply_for_a_leg_the_engine_does_not_know_changes_nothing_and_is_still_answered() -> None:
    engine = Engine(unknown={"a/w/sms/alert/1"})
    sms = OpenAlert("a", "张家", datetime(2026, 3, 14, 1, tzinfo=UTC), "王芳", WANG, "a/w/sms/alert/1")
    assert "无法前往" in _replies(engine, sms).answer(WANG, "2") and engine.calls == []


def test_text_from_someone_no_open_incident_alerted_changes_nothing() -> None:
    engine = Engine()
    assert _replies(engine).answer("+8613700000000", "1") == NO_OPEN_INCIDENT and engine.calls == []

"""Leg orders and an outcome sink for driving the SMPP channel directly (restart, burst, bench)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from callcenter.domain.messages import MessageFacts
from callcenter.domain.types import Channel, LegPurpose, LegStatus, Recipient
from callcenter.service.ports import LegOrder

ALERT_TEXT = ("【995求助】三组 张桂兰家23:59按下紧急键（急病/受伤），地址：张家村三组1号，电话0717-6100000。"
              "回复1确认前往，回复2无法前往。")


def mobile(i: int) -> str:
    return f"+86139{i:08d}"


def order_to(phone: str, leg_id: str = "i-test/leg", text: str = ALERT_TEXT) -> LegOrder:
    facts = MessageFacts("三组 张桂兰家", "张家村三组1号", "0717-6100000", datetime.now(UTC), "急病/受伤")
    return LegOrder(leg_id, leg_id.split("/", 1)[0], Channel.SMS, LegPurpose.ALERT, 1,
                    Recipient("邻居", phone, "household_contact"), text, facts)


class Outcomes:
    """An OutcomeSink that keeps every report, and can wait for a number of final ones."""

    def __init__(self) -> None:
        self.reports: dict[str, list[tuple[LegStatus, str, str]]] = {}
        self._cond = threading.Condition()

    def leg_outcome(self, leg_id: str, status: LegStatus, detail: str = "", provider_ref: str = "") -> None:
        with self._cond:
            self.reports.setdefault(leg_id, []).append((status, detail, provider_ref))
            self._cond.notify_all()

    def final(self) -> dict[str, LegStatus]:
        with self._cond:
            return {leg: got[-1][0] for leg, got in self.reports.items() if got[-1][0].is_final}

    def wait_final(self, count: int, timeout: float) -> dict[str, LegStatus]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.final()) >= count, timeout)
        return self.final()

"""SmppSmsChannel's rules over a scripted session: what send raises or returns, and when the path is
healthy. The real session against Jasmin is in tests/integration/smpp."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from callcenter.channels.errors import ProviderDown, ProviderRefused, RateLimited
from callcenter.channels.limits import SendLimits
from callcenter.domain.types import LegStatus
from callcenter.smpp.channel import Addressing, PathRules, SmppSmsChannel
from callcenter.smpp.session import Deliver, OutboxFull, Submit, SubmitResult
from tests.integration.smpp.orders import Outcomes, order_to


class ScriptedSession:
    """Answers each submit at once with the next status of ``statuses`` (0: accepted)."""

    def __init__(self, on_deliver: Callable[[Deliver], None]) -> None:
        self.on_deliver = on_deliver
        self.bound, self.last_error, self.statuses = True, "", [0]
        self.answer, self.full = True, False
        self.submitted: list[dict[str, Any]] = []
        self.ids = iter(range(1, 10_000))

    def submit(self, params: dict[str, Any]) -> Submit:
        if self.full:
            raise OutboxFull("full")
        item = Submit(params)
        self.submitted.append(params)
        if self.bound:
            item.written = True
            if self.answer:
                status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
                item.result.set_result(SubmitResult(status, f"M{next(self.ids)}"))
        return item

    def withdraw(self, *items: Submit) -> bool:
        return not any(item.written for item in items)

    def release_unwritten(self, why: str) -> int:
        return 0

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def receipt(self, message_id: str, stat: str = "DELIVRD", err: str = "000") -> None:
        text = f"id:{message_id} stat:{stat} err:{err}".encode()
        self.on_deliver(Deliver("8613900000001", 1, "995", 0x04, 0, text, None, None))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def channel(rules: PathRules = PathRules(bind_wait_seconds=0.05, submit_timeout_seconds=0.05, report_seconds=60,
                                         recheck_seconds=30)) -> tuple[SmppSmsChannel, ScriptedSession, Outcomes,
                                                                       Clock]:
    outcomes, clock, made = Outcomes(), Clock(), []

    def session(on_deliver: Callable[[Deliver], None]) -> ScriptedSession:
        made.append(ScriptedSession(on_deliver))
        return made[0]

    path = SmppSmsChannel(session, Addressing("995"), outcomes, lambda: None,  # type: ignore[arg-type, return-value]
                          SendLimits("smpp"), lambda message_id: None, rules, clock)
    return path, made[0], outcomes, clock


LONG = "到" * 71


def test_an_accepted_text_returns_its_parts_ids_and_is_delivered_when_both_parts_are() -> None:
    path, session, outcomes, _ = channel()
    assert path.send(order_to("+8613900000001", "i/leg", LONG)) == "M1,M2"
    assert [p["esm_class"] for p in session.submitted] == [0x40, 0x40]
    assert session.submitted[0]["destination_addr"] == "8613900000001" and session.submitted[0]["dest_addr_ton"] == 1
    session.receipt("M2")
    assert outcomes.reports == {}
    session.receipt("M1")
    assert outcomes.reports["i/leg"] == [(LegStatus.DELIVERED, "delivered (2 parts)", "smpp:M1,M2")]


@pytest.mark.parametrize(("status", "error", "healthy"), [
    (0x0B, ProviderRefused, True), (0x58, RateLimited, False), (0x08, ProviderDown, False)])
def test_a_refused_submit_raises_from_the_error_tree(status: int, error: type[Exception], healthy: bool) -> None:
    path, session, _, _ = channel()
    session.statuses = [status]
    with pytest.raises(error):
        path.send(order_to("+8613900000001"))
    assert path.is_healthy() is healthy


def test_a_throttle_moves_new_texts_elsewhere_until_the_recheck() -> None:
    path, session, _, clock = channel()
    session.statuses = [0x58, 0]
    with pytest.raises(RateLimited):
        path.send(order_to("+8613900000001"))
    clock.now += 31
    assert path.is_healthy()


def test_without_a_bind_nothing_is_written_and_the_path_is_down() -> None:
    path, session, _, _ = channel()
    session.bound = False
    with pytest.raises(ProviderDown, match="not bound"):
        path.send(order_to("+8613900000001"))
    assert not path.is_healthy()


def test_written_without_a_response_the_leg_stays_submitted_as_unknown() -> None:
    path, session, _, _ = channel()
    session.answer = False
    assert path.send(order_to("+8613900000001", "i/leg")) == "unknown:i/leg"


def test_a_full_outbox_is_a_throttle() -> None:
    path, session, _, _ = channel()
    session.full = True
    with pytest.raises(RateLimited, match="outbox full"):
        path.send(order_to("+8613900000001"))


def test_the_path_stops_reporting_only_when_no_receipt_comes_at_all() -> None:
    path, session, _, clock = channel()
    path.send(order_to("+8613900000001", "i/a", "到"))  # M1: its receipt is lost
    clock.now += 30
    path.send(order_to("+8613900000002", "i/b", "到"))  # M2
    clock.now += 31
    session.receipt("M2")  # receipts still flow: one lost receipt does not take the path down
    assert path.is_healthy()
    clock.now += 61
    assert not path.is_healthy()  # M1 waits 122 s and nothing came for 61 s


def test_a_failed_receipt_is_undelivered_with_its_reason() -> None:
    path, session, outcomes, _ = channel()
    path.send(order_to("+8613900000001", "i/leg", "到"))
    session.receipt("M1", "UNDELIV", "013")
    assert outcomes.reports["i/leg"] == [(LegStatus.UNDELIVERED, "undelivered: blacklisted (UNDELIV/013)", "smpp:M1")]

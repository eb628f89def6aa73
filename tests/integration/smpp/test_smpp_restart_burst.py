"""The SMPP channel against Jasmin under stress: the gateway restarted mid-window loses no message, and a
burst leaves no leg without a final state. The channel is driven directly, as the engine's dispatch
workers drive it, with an outcome sink that keeps every report."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from callcenter.channels.limits import SendLimits
from callcenter.domain.types import LegStatus
from callcenter.smpp.channel import Addressing, PathRules, SmppSmsChannel
from callcenter.smpp.session import SessionConfig, SmppSession
from tests.integration.smpp.jasmin_rig import PASSWORD, USER, JasminRig
from tests.integration.smpp.orders import Outcomes, mobile, order_to
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

SHORT = "【995求助】三组 张桂兰家按下紧急键，回复1确认前往。"  # one message: parts are counted in the other tests


@pytest.fixture(scope="module")
def jasmin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JasminRig]:
    rig = JasminRig(tmp_path_factory.mktemp("jasmin")).start()
    yield rig
    rig.stop()


def smpp_channel(jasmin: JasminRig, outcomes: Outcomes, window: int = 20, throughput: float = 1000.0,
                 rules: PathRules = PathRules(bind_wait_seconds=60, submit_timeout_seconds=90)) -> SmppSmsChannel:
    config = SessionConfig("127.0.0.1", jasmin.smpp_port, USER, PASSWORD, window=window, throughput=throughput,
                           enquire_link_seconds=5, backoff_seconds=0.2, backoff_max_seconds=1.0)

    def session(on_deliver: object) -> SmppSession:
        return SmppSession(config, on_deliver)  # type: ignore[arg-type]

    channel = SmppSmsChannel(session, Addressing("995"), outcomes, _no_replies, SendLimits("smpp"), _no_leg, rules)
    channel.start()
    wait_for(lambda: channel.session.bound, what="bound to Jasmin")
    return channel


def _no_leg(message_id: str) -> None:
    """No storage here: a receipt for a first copy whose response the killed gateway never sent (we
    sent it again, and the copy's receipt settles the leg) finds no leg, as in production."""
    return None


def _no_replies() -> object:
    raise AssertionError("no reply expected")


def _send_all(channel: SmppSmsChannel, count: int, tag: str) -> list[str]:
    with ThreadPoolExecutor(32) as pool:
        return list(pool.map(lambda i: channel.send(order_to(mobile(i), f"{tag}/{i}", SHORT)), range(count)))


def test_a_gateway_restart_mid_window_loses_no_message(jasmin: JasminRig, tmp_path: Path) -> None:
    count, outcomes = 300, Outcomes()
    channel = smpp_channel(jasmin, outcomes, window=20, throughput=100)
    try:
        with ThreadPoolExecutor(1) as sender:
            sent = sender.submit(_send_all, channel, count, "restart")
            wait_for(lambda: channel.ledger.waiting() + len(outcomes.final()) >= 60, what="a fifth accepted")
            jasmin.freeze_jasmind()  # it hangs: the window fills with submits it never answers
            wait_for(lambda: channel.session.in_flight() == 20, what="a full window unanswered")
            jasmin.restart_jasmind()  # killed and started again: those 20 must be written again
            refs = sent.result(timeout=120)
        # Killed, the gateway loses the receipts of the messages it was forwarding right then (it writes
        # which message a carrier id is for after forwarding it); each is a leg left submitted, which the
        # gateway logs. Every other leg must become final (on a loaded machine the restarted gateway
        # forwards the backlog's receipts for a minute or more); and every message reached the carrier.
        settled = lambda: count - len(outcomes.final()) <= jasmin.receipts_lost_inside()  # noqa: E731
        with contextlib.suppress(AssertionError):
            wait_for(settled, timeout=240, what="every leg final but those whose receipts Jasmin lost", step=0.5)
        final = outcomes.final()
    finally:
        channel.stop()
    assert count - len(final) <= jasmin.receipts_lost_inside(), f"{count - len(final)} legs without a final state"
    assert set(final.values()) == {LegStatus.DELIVERED}
    assert all(ref and not ref.startswith("unknown:") for ref in refs)
    assert channel.session.resubmitted >= 20
    delivered_to = Counter(r.destination for r in jasmin.carrier.received)
    assert all(delivered_to[mobile(i).lstrip("+")] >= 1 for i in range(count))
    # At least once: a submit the gateway took but whose response was lost is written again after the
    # re-bind (a duplicate); one it never read (frozen) is not. At most our window of them, plus one
    # per gateway connector that forwarded a message without acknowledging its queue.
    assert sum(n - 1 for n in delivered_to.values()) <= 20 + jasmin.connectors


def test_a_burst_leaves_no_leg_without_a_final_state(jasmin: JasminRig) -> None:
    count, outcomes = 1000, Outcomes()
    jasmin.carrier.fates.update({mobile(i).lstrip("+"): _failed() for i in range(0, count, 10)})
    channel = smpp_channel(jasmin, outcomes, window=50, throughput=2000)
    started = time.monotonic()
    try:
        refs = _send_all(channel, count, "burst")
        final = outcomes.wait_final(count, timeout=60)
    finally:
        channel.stop()
    assert len(refs) == count and len(final) == count, f"{count - len(final)} legs without a final state"
    undelivered = {leg for leg, status in final.items() if status is LegStatus.UNDELIVERED}
    assert undelivered == {f"burst/{i}" for i in range(0, count, 10)}
    assert time.monotonic() - started < 120  # not a speed figure: a stuck window would never end


def _failed() -> object:
    from tests.smsc_stub import Fate
    return Fate("UNDELIV", "001")

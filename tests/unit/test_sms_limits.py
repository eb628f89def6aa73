"""Per-number and per-account SMS limits, and the delivery-failure vocabulary."""

from __future__ import annotations

import pytest

from callcenter.channels.delivery import DeliveryFailure, delivery_detail, failure_of
from callcenter.channels.errors import RateLimited
from callcenter.channels.limits import SendLimits, Window


def test_one_number_gets_at_most_its_limit_in_any_window_and_again_after_it() -> None:
    limits = SendLimits("aliyun", per_number=(Window(2, 60.0),))
    limits.take("+8613800138000", 0.0)
    limits.take("+8613800138000", 10.0)
    with pytest.raises(RateLimited, match="2 per 60 s to one number"):
        limits.take("+8613800138000", 59.0)
    limits.take("+8613900139000", 59.0)  # another number is not held back
    limits.take("+8613800138000", 60.5)  # the first send left the window


def test_the_account_limit_counts_every_number() -> None:
    limits = SendLimits("tencent", per_account=(Window(3, 1.0),))
    for i in range(3):
        limits.take(f"+861380013800{i}", 0.1 * i)
    with pytest.raises(RateLimited, match="account limit of 3 per 1 s"):
        limits.take("+8613800138009", 0.5)
    limits.take("+8613800138009", 1.05)


def test_a_refused_send_is_not_counted() -> None:
    limits = SendLimits("aliyun", per_number=(Window(1, 60.0),), per_account=(Window(1, 1.0),))
    limits.take("+8613800138000", 0.0)
    with pytest.raises(RateLimited):
        limits.take("+8613900139000", 0.5)  # refused by the account limit
    limits.take("+8613900139000", 1.5)  # so this number's own window is still empty


def test_a_mass_event_leaves_no_memory_of_idle_numbers() -> None:
    limits = SendLimits("aliyun", per_number=(Window(5, 10.0),))
    for i in range(10_000):
        limits.take(f"+86138{i:08d}", i * 0.01)
    assert len(limits._numbers) < 5000


def test_a_delivery_detail_reads_back_as_its_reason() -> None:
    detail = delivery_detail(DeliveryFailure.SWITCHED_OFF, "MK:0005")
    assert detail == "undelivered: switched_off (MK:0005)"
    assert failure_of(detail) is DeliveryFailure.SWITCHED_OFF
    assert failure_of("twilio 30003") is None
    assert failure_of("undelivered: nonsense") is None

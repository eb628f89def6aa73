"""Send rates per sender number and per account, counted where Twilio would count them."""

from __future__ import annotations

import time
from collections.abc import Callable

from callcenter.domain.types import LegStatus
from tests.integration.twilio.rig import CALL_FROM, SMS_FROM, TwilioRig, neighbour
from tests.twilio_emulator import Emulator
from tests.waiting import wait_for


def test_rates_per_number_and_per_account_are_honoured(rig_factory: Callable[..., TwilioRig], sqlite_url: str,
                                                       emulator: Emulator) -> None:
    rig = rig_factory(sqlite_url, neighbours=10, sms_per_second_per_number=4, sms_per_second_per_account=4,
                      calls_per_second_per_number=2, calls_per_second_per_account=3)
    for i in range(1, 11):  # nobody confirms: no quorum stands the waiting legs down
        emulator.script(neighbour(i), "no-answer")
    rig.press()
    wait_for(lambda: len(emulator.api_requests("sms")) >= 11 and len(emulator.api_requests("call")) >= 10,
             timeout=30, what="the level 0 fan-out submitted")
    assert 2 <= emulator.max_in_window("sms") <= 4
    assert emulator.max_in_window("sms", SMS_FROM[0]) <= 4
    assert 2 <= emulator.max_in_window("call") <= 3
    for number in CALL_FROM:
        assert emulator.max_in_window("call", number) <= 2
    assert {r.sender for r in emulator.api_requests("call")} == set(CALL_FROM)  # both numbers carry calls


def test_legs_stood_down_while_waiting_for_a_slot_are_not_sent(rig_factory: Callable[..., TwilioRig],
                                                              sqlite_url: str, emulator: Emulator) -> None:
    rig = rig_factory(sqlite_url, neighbours=8, calls_per_second_per_number=1, calls_per_second_per_account=1)
    incident = rig.press()  # everyone would press 1; the quorum of two is met after two calls
    wait_for(lambda: rig.status(incident.id) == "acknowledged", timeout=30, what="quorum")
    cancelled = wait_for(lambda: [n for n in (neighbour(i) for i in range(1, 9))
                                  if rig.statuses(incident.id, n, "call") == [LegStatus.CANCELLED]],
                         what="calls stood down")
    time.sleep(1.5)  # a slot or more passes: a stood-down call would have gone out by now
    called = {c.to for c in emulator.created("call")}
    assert cancelled and not called & set(cancelled)

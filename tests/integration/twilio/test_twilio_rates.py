"""Send rates per sender number and per account, counted where Twilio would count them."""

from __future__ import annotations

from collections.abc import Callable

from tests.integration.twilio.rig import CALL_FROM, SMS_FROM, TwilioRig, wait_for
from tests.twilio_emulator import Emulator


def test_rates_per_number_and_per_account_are_honoured(rig_factory: Callable[..., TwilioRig], sqlite_url: str,
                                                       emulator: Emulator) -> None:
    rig = rig_factory(sqlite_url, neighbours=10, sms_per_second_per_number=4, sms_per_second_per_account=4,
                      calls_per_second_per_number=2, calls_per_second_per_account=3)
    rig.press()
    wait_for(lambda: len(emulator.api_requests("sms")) >= 11 and len(emulator.api_requests("call")) >= 10,
             timeout=30, what="the level 0 fan-out submitted")
    assert 2 <= emulator.max_in_window("sms") <= 4
    assert emulator.max_in_window("sms", SMS_FROM[0]) <= 4
    assert 2 <= emulator.max_in_window("call") <= 3
    for number in CALL_FROM:
        assert emulator.max_in_window("call", number) <= 2
    assert {r.sender for r in emulator.api_requests("call")} == set(CALL_FROM)  # both numbers carry calls

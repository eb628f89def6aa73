"""The SMPP path in config/channels.yaml's SMS chain (mobile: [smpp, twilio]) from the composition root:
texts go through Jasmin while it is up; with the gateway gone, new texts go to Twilio (the local
emulator) and none is sent by both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from callcenter.domain.types import CallerTrust
from tests.integration.smpp.jasmin_rig import JasminRig
from tests.integration.smpp.service import serve
from tests.integration.twilio.rig import CALLER, GRID_WORKER, SECOND_CALLER, SMS_FROM, neighbour
from tests.twilio_emulator import Emulator
from tests.waiting import wait_for

PHONES = [neighbour(1), neighbour(2), neighbour(3), GRID_WORKER]


@pytest.fixture(scope="module")
def jasmin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JasminRig]:
    rig = JasminRig(tmp_path_factory.mktemp("jasmin"), connectors=1).start()
    yield rig
    rig.stop()


def test_with_the_gateway_gone_new_texts_go_to_the_next_provider_and_none_twice(
        jasmin: JasminRig, sqlite_url: str, tmp_path: Path) -> None:
    with Emulator() as emulator:
        service = serve(jasmin, sqlite_url, tmp_path, sms_channel="twilio",
                        http={"public_base_url": "http://127.0.0.1:9"},
                        twilio={"enabled": True, "account_sid": emulator.account_sid,
                                "auth_token": emulator.auth_token, "api_base_url": emulator.base_url,
                                "sms_from": SMS_FROM, "sms_per_second_per_number": 50,
                                "sms_per_second_per_account": 50})
        store = service.incident_store
        try:
            first = service.runtime.engine.key_press(CALLER, CallerTrust.LOCAL)

            def refs(incident_id: str) -> dict[str, str]:
                return {r.recipient_phone: r.provider_ref for r in store.legs(incident_id) if r.channel == "sms"}

            wait_for(lambda: sorted(refs(first.id)) == sorted(PHONES)
                     and all(ref.startswith("smpp:") for ref in refs(first.id).values()), what="texts over SMPP")
            assert emulator.created("sms") == []
            jasmin.stop_jasmind()
            path = service.channel_packages["smpp"].path  # type: ignore[attr-defined]
            wait_for(lambda: not path.is_healthy(), what="the SMPP path marked down")
            second = service.runtime.engine.key_press(SECOND_CALLER, CallerTrust.LOCAL)
            wait_for(lambda: all(emulator.created("sms", p) for p in PHONES), what="texts through Twilio")
            assert all(not ref.startswith("smpp:") for ref in refs(second.id).values())
            # one Twilio text per phone (the second incident's); the first incident's stay with SMPP
            assert all(len(emulator.created("sms", p)) == 1 for p in PHONES)
            assert all(ref.startswith("smpp:") for ref in refs(first.id).values())
        finally:
            service.close()
            jasmin.start_jasmind()

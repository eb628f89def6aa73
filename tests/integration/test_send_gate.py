"""The gate a paced send passes just before it leaves (Twilio's send slots): legs not yet placed go,
legs the incident stood down or that already have an outcome do not. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from test_engine_sql import Rig, make_rig

from callcenter.adapters.fakes import FakeChannel
from callcenter.channels.stored import StoredLegs
from callcenter.domain.types import Actor, CallerTrust, Channel, LegStatus
from callcenter.service.ports import LegOrder

CALLER = "0717-6100000"


@pytest.fixture
def rig(database_url: str) -> Iterator[Rig]:
    yield from make_rig(database_url)


def _calls(rig: Rig, incident_id: str) -> list[str]:
    return sorted(r.id for r in rig.store.legs(incident_id) if r.channel == "call" and r.id.endswith("/1"))


def test_a_leg_handed_to_a_path_that_gave_it_back_unplaced_still_goes(rig: Rig) -> None:
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    gate = StoredLegs(rig.store).still_pending
    first, second, *_ = _calls(rig, incident.id)
    assert {r.status for r in rig.store.legs(incident.id) if r.id == first} == {"dialing"}
    assert gate(first)  # e.g. queued for a SIP trunk that answered 503: Twilio places it
    rig.engine.leg_outcome(second, LegStatus.RINGING, "180")
    assert not gate(second)  # placed once: never a second call for the same leg
    assert gate(f"{incident.id}/nobody/call/alert/1")  # unknown: send rather than lose an alert


def test_legs_stood_down_by_quorum_or_with_an_outcome_do_not_go(rig: Rig) -> None:
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    gate = StoredLegs(rig.store).still_pending
    busy, ack1, ack2, *_ = _calls(rig, incident.id)
    rig.engine.leg_outcome(busy, LegStatus.BUSY, "486")
    redial = next(r.id for r in rig.store.legs(incident.id) if r.status == "pending" and r.channel == "call")
    assert not gate(busy) and gate(redial)
    rig.engine.leg_outcome(ack1, LegStatus.ACKNOWLEDGED, "pressed 1")
    rig.engine.leg_outcome(ack2, LegStatus.ACKNOWLEDGED, "pressed 1")  # quorum: the redial is dropped
    assert {r.status for r in rig.store.legs(incident.id) if r.id == redial} == {"cancelled"}
    assert not gate(redial)


class AskingChannel(FakeChannel):
    """Asks the gate from inside ``send``, as a paced Twilio send does when its slot comes."""

    def __init__(self, name: str, gate: Callable[[str], bool]) -> None:
        super().__init__(name)
        self.gate, self.answers = gate, dict[str, bool]()

    def send(self, order: LegOrder) -> str:
        self.answers[order.leg_id] = self.gate(order.leg_id)
        return super().send(order)


def test_a_closed_incident_sends_its_notices_but_no_alert(rig: Rig) -> None:
    sms = AskingChannel("asking-sms", StoredLegs(rig.store).still_pending)
    rig.engine.channels[Channel.SMS] = sms
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    dialing = _calls(rig, incident.id)[0]
    rig.engine.cancel(incident.id, Actor("household", CALLER))
    notices = {r.id for r in rig.store.legs(incident.id) if r.purpose == "cancellation"}
    assert len(notices) == 11  # everyone alerted hears it was cancelled
    assert {leg: sms.answers[leg] for leg in notices} == dict.fromkeys(notices, True)
    assert all(answer for leg, answer in sms.answers.items())  # the first alerts went too
    assert not StoredLegs(rig.store).still_pending(dialing)  # an alert of a closed incident never goes

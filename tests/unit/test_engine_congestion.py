"""The engine with a call channel that holds its legs for a free trunk channel (in-memory store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from engine_rig import CALLER, Rig, engine_rig

from callcenter.adapters.fakes import FakeChannel
from callcenter.adapters.memory import MemoryIncidentStore
from callcenter.domain.types import CallerTrust, Channel, IncidentStatus, LegStatus


@dataclass
class FullTrunk(FakeChannel):
    """Every call it takes waits for a trunk channel (as the SIP channel's queue does when full)."""

    def is_queued(self, ref: str) -> bool:
        return True


def full_trunk_rig() -> Rig:
    rig = engine_rig(MemoryIncidentStore())
    trunk = FullTrunk("trunk")
    rig.engine.channels[Channel.CALL] = trunk
    rig.calls = trunk
    return rig


def _calls(rig: Rig, incident_id: str) -> list:  # type: ignore[type-arg]
    return [leg for leg in rig.store.legs(incident_id) if leg.channel == "call"]


def test_calls_held_for_the_trunk_are_stored_queued_with_what_the_queue_needs() -> None:
    rig = full_trunk_rig()
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    assert {leg.status for leg in _calls(rig, incident.id)} == {"queued"}
    assert {(o.leg_level, o.calls_wanted) for o in rig.calls.orders} == {(0, 3)}  # quorum 2 + margin 1
    assert {leg.status for leg in rig.store.legs(incident.id) if leg.channel == "sms"} == {"submitted"}


def test_the_timer_waits_for_the_first_call_to_leave_the_queue_then_runs_from_it() -> None:
    rig = full_trunk_rig()
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    rig.clock.advance(60)
    rig.fire_timers()
    stored = rig.engine._load(incident.id)
    assert (stored.level, stored.next_escalation_at) == (0, None)
    assert [e.kind for e in rig.store.timeline(incident.id)].count("escalation_waits") == 1
    rig.clock.advance(140)  # 200 s after the press the first neighbour's call is dialled
    first = _calls(rig, incident.id)[0]
    rig.engine.leg_outcome(first.id, LegStatus.DIALING)
    assert rig.engine._load(incident.id).next_escalation_at == rig.clock.now() + timedelta(seconds=60)
    rig.clock.advance(59)
    rig.fire_timers()
    assert rig.engine._load(incident.id).level == 0
    rig.clock.advance(1)
    rig.fire_timers()
    assert rig.engine._load(incident.id).level == 1


def test_the_quorum_cancels_the_calls_still_waiting_for_the_trunk() -> None:
    rig = full_trunk_rig()
    incident = rig.engine.key_press(CALLER, CallerTrust.LOCAL)
    first, second, *waiting = _calls(rig, incident.id)
    for leg in (first, second):
        for status in (LegStatus.DIALING, LegStatus.RINGING, LegStatus.ANSWERED, LegStatus.ACKNOWLEDGED):
            rig.engine.leg_outcome(leg.id, status)
    assert rig.engine._load(incident.id).status is IncidentStatus.ACKNOWLEDGED
    assert {leg.status for leg in _calls(rig, incident.id) if leg.id in {w.id for w in waiting}} == {"cancelled"}

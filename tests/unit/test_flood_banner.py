"""The flood banner's rule and its reading of a SIP trunk (pure: no database, no sockets)."""

from __future__ import annotations

from dataclasses import dataclass, field

from callcenter.api.flood import TrunkPublic, is_flood, trunk_of
from callcenter.db.flood_queries import FloodCounts
from callcenter.service.dial_queue import FairDialQueue
from tests.unit.test_dial_queue import fill

CALM = FloodCounts(alerting=3, never_called=1, waiting_for_quorum=1, acknowledged=2, calls_queued=0)


@dataclass
class _Channel:
    """What SipAlertChannel shows: its calls up, its size, and its fair queue."""

    active_calls: int
    max_channels: int = 30
    queue: FairDialQueue = field(default_factory=FairDialQueue)


def test_a_trunk_reads_its_calls_up_and_the_waiting_calls_of_each_incident() -> None:
    channel = _Channel(30)
    fill(channel.queue, "a", 20)
    fill(channel.queue, "b", 5)
    assert trunk_of(channel) == TrunkPublic(calls_up=30, channels=30, calls_queued=25, incidents_waiting=2)
    assert trunk_of(None) is None


def test_calm_is_no_flood() -> None:
    assert not is_flood(CALM, TrunkPublic(calls_up=29, channels=30, calls_queued=0, incidents_waiting=0), 10, 0)
    assert not is_flood(CALM, None, 10, 0)


def test_any_call_waiting_for_a_trunk_channel_is_a_flood() -> None:
    stored = FloodCounts(3, 1, 1, 2, calls_queued=1)  # queued by any instance
    assert is_flood(stored, None, 10, 0)
    here = TrunkPublic(calls_up=30, channels=30, calls_queued=4, incidents_waiting=2)  # this process's queue
    assert is_flood(CALM, here, 10, 0)


def test_the_policys_count_of_alerting_incidents_or_a_mass_event_is_a_flood() -> None:
    assert is_flood(CALM, None, 3, 0)
    assert not is_flood(CALM, None, 4, 0)
    assert is_flood(CALM, None, 10, 1)

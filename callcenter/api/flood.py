"""Flood banner API: open incidents, those waiting for a first call or for quorum, and trunk occupancy.

The counts come from the database (every instance's incidents, callcenter/db/flood_queries.py); the
trunk is this process's SIP channel, when it has one. ``flood`` is on while calls wait for a trunk
channel, while at least the policy's ``congestion.mass_event.open_incidents`` incidents are alerting,
or while any upper-level recipient is in a mass event (callcenter/service/mass_event.py). A grid
worker's counts are their grid's; whether there is a flood is the district's.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from callcenter.accounts.roles import Permission, User
from callcenter.api.deps import ContainerDep, require
from callcenter.db.flood_queries import FloodCounts

__all__ = ["FloodPublic", "TrunkChannel", "TrunkPublic", "Viewer", "flood", "is_flood", "router", "trunk_of"]

router = APIRouter(prefix="/api", tags=["incidents"])
Viewer = Annotated[User, Depends(require(Permission.VIEW_INCIDENTS))]


class TrunkPublic(BaseModel):
    """This process's SIP trunk: calls up of ``channels``, calls waiting for one, and their incidents."""

    calls_up: int
    channels: int
    calls_queued: int
    incidents_waiting: int


class FloodPublic(BaseModel):
    flood: bool
    alerting: int
    never_called: int
    waiting_for_quorum: int
    acknowledged: int
    calls_queued: int
    recipients_in_mass_event: int
    mass_event_threshold: int
    grid_id: int | None  # the counts are this grid's (a grid worker); None: the district's
    trunk: TrunkPublic | None  # None: this process places no SIP calls


class _Queue(Protocol):
    def __len__(self) -> int: ...
    def waiting_incidents(self) -> int: ...


class TrunkChannel(Protocol):
    """What the banner reads of a SIP alert channel (callcenter/sip/channel.py SipAlertChannel)."""

    @property
    def active_calls(self) -> int: ...
    @property
    def max_channels(self) -> int: ...
    @property
    def queue(self) -> _Queue: ...


def trunk_of(channel: TrunkChannel | None) -> TrunkPublic | None:
    if channel is None:
        return None
    queue = channel.queue
    return TrunkPublic(calls_up=channel.active_calls, channels=channel.max_channels, calls_queued=len(queue),
                       incidents_waiting=queue.waiting_incidents())


def is_flood(district: FloodCounts, trunk: TrunkPublic | None, threshold: int, recipients_in_mass_event: int) -> bool:
    waiting = district.calls_queued > 0 or (trunk is not None and trunk.calls_queued > 0)
    return waiting or district.alerting >= threshold or recipients_in_mass_event > 0


@router.get("/flood", response_model=FloodPublic,
            summary="The flood banner: incidents waiting for a first call or for quorum, trunk occupancy")
def flood(user: Viewer, container: ContainerDep) -> FloodPublic:
    queries = container.flood_queries
    district = queries.counts()
    scope = user.grid_scope
    shown = district if scope is None else queries.counts(scope)
    trunk = trunk_of(container.trunk())
    threshold = container.policy.congestion.mass_event.open_incidents
    mass = container.runtime.engine.mass_events.flood().recipients_in_mass_event
    return FloodPublic(flood=is_flood(district, trunk, threshold, mass), alerting=shown.alerting,
                       never_called=shown.never_called, waiting_for_quorum=shown.waiting_for_quorum,
                       acknowledged=shown.acknowledged, calls_queued=shown.calls_queued,
                       recipients_in_mass_event=mass, mass_event_threshold=threshold, grid_id=scope, trunk=trunk)


"""What channels read from incident storage, for any provider.

``StoredLegs``: whether a leg waiting for a send slot is still to be placed (the gate a paced send
passes just before it leaves). ``StoredAlerts``: which open incidents alerted a phone number, for
SMS replies (callcenter.channels.replies); it scans the open incidents: a district has few open at
once, and a reply is rare next to a press.
"""

from __future__ import annotations

from callcenter.channels.replies import OpenAlert
from callcenter.domain.incident import AlertLeg, Incident
from callcenter.domain.types import Channel, LegPurpose, LegStatus
from callcenter.service.ports import IncidentStore

__all__ = ["StoredAlerts", "StoredLegs"]

_REPLYABLE = (LegStatus.SUBMITTED, LegStatus.DELIVERED)


# Not placed yet: waiting for its send slot (pending), waiting for a trunk channel (queued), or
# handed to a path that gave it back unplaced (dialing: e.g. queued for a SIP trunk that then
# answered 503, and moved on to Twilio).
_UNPLACED = (LegStatus.PENDING, LegStatus.QUEUED, LegStatus.DIALING)


class StoredLegs:
    """Whether a leg is still to be placed, read just before a paced send leaves."""

    def __init__(self, store: IncidentStore) -> None:
        self.store = store

    def still_pending(self, leg_id: str) -> bool:
        """False once the incident stood the leg down while it waited (quorum met or the recipient
        acknowledged: cancelled; an alert of a closed incident) or the leg already has an outcome."""
        with self.store.unit_of_work() as uow:
            incident = uow.incidents.get(leg_id.split("/", 1)[0])
        leg = incident.legs.get(leg_id) if incident is not None else None
        if incident is None or leg is None:
            return True  # unknown: send rather than lose an alert
        # A closed incident still sends its notices (the cancellation SMS), never another alert.
        return leg.status in _UNPLACED and (incident.status.is_open or leg.purpose is not LegPurpose.ALERT)


class StoredAlerts:
    def __init__(self, store: IncidentStore) -> None:
        self.store = store

    def open_alerts_for(self, phone: str) -> list[OpenAlert]:
        found: list[OpenAlert] = []
        for incident_id in self.store.open_incident_ids():
            with self.store.unit_of_work() as uow:
                incident = uow.incidents.get(incident_id)
            alert = _alert_for(incident, phone) if incident is not None else None
            if alert is not None:
                found.append(alert)
        return found


def _alert_for(incident: Incident, phone: str) -> OpenAlert | None:
    legs = [leg for leg in incident.legs.values()
            if leg.recipient.key == phone and leg.purpose is LegPurpose.ALERT and leg.status.was_placed]
    if not incident.status.is_open or not legs:
        return None
    recipient = legs[0].recipient
    return OpenAlert(incident.id, incident.label, incident.opened_at, recipient.name, recipient.key,
                     _replyable_sms(legs))


def _replyable_sms(legs: list[AlertLeg]) -> str | None:
    sms = [leg for leg in legs if leg.channel is Channel.SMS and leg.status in _REPLYABLE]
    return max(sms, key=lambda leg: leg.attempt).id if sms else None

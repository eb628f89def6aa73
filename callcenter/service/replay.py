"""Replay decisions: spool records applied to an incident, with no I/O (time is a parameter).

Each record is applied only when it still changes something, so a record applied twice changes
nothing: an ``opened`` record creates the incident only when the store does not have it (its id is
the primary key), a ``pressed_again`` only when it is later than the incident's last press, an
``outcome`` only when it moves its leg forward, a ``claimed`` leg only when the store finds it
unclaimed. Times are the records' own: the incident keeps its original press time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callcenter.domain.incident import Incident, IncidentError, IncidentEvent
from callcenter.domain.incident_codec import plan_from_json, plan_to_json
from callcenter.domain.policy import EscalationPolicy
from callcenter.domain.types import SYSTEM, CallerTrust, LegStatus
from callcenter.service.spool import SpoolRecord

__all__ = [
    "STORED_AFTER_OUTAGE",
    "Replayed",
    "claimed_record",
    "opened_record",
    "outcome_record",
    "pressed_again_record",
    "replay_incident",
]

STORED_AFTER_OUTAGE = "stored_after_outage"  # timeline kind: "stored after database outage"
INTERRUPTED = "interrupted: the instance placing it stopped during the database outage"
# Handed over and not yet out of our hands (a submitted SMS is the provider's): as engine recovery sees them.
_IN_FLIGHT = frozenset({LegStatus.PENDING, LegStatus.DIALING, LegStatus.RINGING, LegStatus.ANSWERED})


def opened_record(incident: Incident, open_key: str, holder: str) -> SpoolRecord:
    return SpoolRecord("opened", incident.id, incident.opened_at, {
        "caller": incident.caller, "household_id": incident.household_id, "label": incident.label,
        "address": incident.address, "plan": plan_to_json(incident.plan), "open_key": open_key, "holder": holder,
        "trust": str(incident.caller_trust)})


def pressed_again_record(incident_id: str, at: datetime, counted: bool, trust: CallerTrust) -> SpoolRecord:
    return SpoolRecord("pressed_again", incident_id, at, {"counted": counted, "trust": str(trust)})


def _trust(record: SpoolRecord) -> CallerTrust:
    """Spools written before presses carried their trust held only presses that were alerted at once."""
    return CallerTrust(record.data.get("trust", CallerTrust.LOCAL))


def claimed_record(incident_id: str, at: datetime, providers: dict[str, str], holder: str) -> SpoolRecord:
    """Legs about to be handed to a channel: leg id → the channel's name."""
    return SpoolRecord("claimed", incident_id, at, {"legs": providers, "holder": holder})


def outcome_record(incident_id: str, at: datetime, leg_id: str, status: LegStatus, detail: str = "",
                   ref: str = "") -> SpoolRecord:
    return SpoolRecord("outcome", incident_id, at, {"leg": leg_id, "status": str(status), "detail": detail,
                                                    "ref": ref})


@dataclass(frozen=True, slots=True)
class Claim:
    leg_id: str
    holder: str
    provider: str
    at: datetime


@dataclass(slots=True)
class Replayed:
    """An incident with the records applied, and what the store must write besides it."""

    incident: Incident
    is_new: bool
    open_key: str | None
    claims: list[Claim] = field(default_factory=list)
    applied: int = 0


def replay_incident(records: Sequence[SpoolRecord], stored: Incident | None, policy: EscalationPolicy,
                    holder: str, survives_restart: Callable[[str], bool], now: datetime) -> Replayed | None:
    """Apply one incident's records (spool order) to the stored incident, or rebuild it from its
    ``opened`` record. None when the store lacks the incident and the records cannot rebuild it."""
    if stored is None:
        opened = next((r for r in records if r.kind == "opened"), None)
        if opened is None:
            return None
        result = Replayed(_reopen(opened, policy), True, str(opened.data["open_key"]))
    else:
        result = Replayed(stored, False, None)
    claims: dict[str, Claim] = {}
    for record in records:
        result.applied += _APPLY[record.kind](result.incident, record, policy, claims)
    result.claims = list(claims.values())
    _interrupt_orphans(result.incident, result.claims, holder, survives_restart, now, policy)
    if result.is_new:
        spooled_by = next((str(r.data["holder"]) for r in records if r.kind == "opened"), "")
        result.incident.new_events.append(IncidentEvent(now, STORED_AFTER_OUTAGE, str(SYSTEM), {
            "pressed_at": result.incident.opened_at, "spooled_by": spooled_by, "stored_by": holder,
            "records": len(records)}))
    return result


def _reopen(record: SpoolRecord, policy: EscalationPolicy) -> Incident:
    """The incident as the degraded press opened it: same id, time and plan, so the same leg ids."""
    d: dict[str, Any] = record.data
    household = d["household_id"]
    return Incident.open(record.incident_id, str(d["caller"]), None if household is None else int(household),
                         str(d["label"]), str(d["address"]), plan_from_json(d["plan"]), policy, record.at,
                         trust=_trust(record), hold=False)  # as the degraded press opened it: alerted at once


def _opened(incident: Incident, record: SpoolRecord, policy: EscalationPolicy, claims: dict[str, Claim]) -> int:
    return 0  # consumed by replay_incident


def _pressed_again(incident: Incident, record: SpoolRecord, policy: EscalationPolicy,
                   claims: dict[str, Claim]) -> int:
    last = incident.last_press_at or incident.opened_at
    if not incident.status.is_open or record.at <= last:
        return 0
    incident.press_again(record.at, policy, bool(record.data["counted"]), trust=_trust(record))
    return 1


def _claimed(incident: Incident, record: SpoolRecord, policy: EscalationPolicy, claims: dict[str, Claim]) -> int:
    legs: dict[str, str] = record.data["legs"]
    found = [leg_id for leg_id in legs if leg_id in incident.legs]
    for leg_id in found:
        claims.setdefault(leg_id, Claim(leg_id, str(record.data["holder"]), str(legs[leg_id]), record.at))
    return 0  # the incident itself is unchanged: the store writes a claim only on an unclaimed leg


def _outcome(incident: Incident, record: SpoolRecord, policy: EscalationPolicy, claims: dict[str, Claim]) -> int:
    d = record.data
    try:
        status = LegStatus(d["status"])
    except ValueError:
        return 0
    if not incident.accepts_outcome(str(d["leg"]), status):
        return 0
    try:
        incident.record_outcome(str(d["leg"]), status, record.at, policy, str(d["detail"]), str(d["ref"]))
    except IncidentError:
        return 0
    return 1


_APPLY: dict[str, Callable[[Incident, SpoolRecord, EscalationPolicy, dict[str, Claim]], int]] = {
    "opened": _opened, "pressed_again": _pressed_again, "claimed": _claimed, "outcome": _outcome,
}


def _interrupt_orphans(incident: Incident, claims: list[Claim], holder: str, survives_restart: Callable[[str], bool],
                       now: datetime, policy: EscalationPolicy) -> None:
    """Legs an earlier boot of this instance handed over and never heard of again died with it
    (unless their channel outlives us): closed as interrupted, and the next attempt is planned."""
    for claim in claims:
        leg = incident.legs[claim.leg_id]
        if claim.holder != holder and leg.status in _IN_FLIGHT and not survives_restart(claim.provider):
            incident.leg_interrupted(claim.leg_id, now, policy, INTERRUPTED)

"""The incident aggregate: one emergency, its alert legs, acknowledgements and escalation.

Every method takes ``now`` and changes only this object; it records what happened in
``new_events`` for the timeline. Storage, channels and timers act on the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from callcenter.domain.plan import FanOutPlan, PlannedLevel
from callcenter.domain.policy import EscalationPolicy
from callcenter.domain.types import (
    CHANNEL_OUTCOMES,
    LEG_PROGRESS,
    SYSTEM,
    Actor,
    CallerTrust,
    Channel,
    EmergencyType,
    IncidentStatus,
    LegPurpose,
    LegStatus,
    Recipient,
)
from contacts.model import Role

__all__ = [
    "DISPATCH_AGENCIES", "HELD_LEVEL", "Acknowledgement", "AlertLeg", "Incident", "IncidentError", "IncidentEvent",
    "leg_id",
]


class IncidentError(Exception):
    """A command that does not apply to this incident (closed, unknown leg, bad outcome)."""


# The level of an incident held for the operators: its caller is unverified and nobody has been
# alerted yet. Level 0 is entered when an operator releases it or the hold ends.
HELD_LEVEL = -1

# A level's first call leaving the trunk queue restarts its clock only if that moves the deadline by
# more than this: on a free trunk the first call leaves within milliseconds of the level's start.
_CLOCK_SLACK = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    at: datetime
    kind: str
    actor: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    recipient: Recipient
    at: datetime
    via: str  # the leg id, or "operator:<name>"


@dataclass(slots=True)
class AlertLeg:
    incident_id: str
    recipient: Recipient
    channel: Channel
    purpose: LegPurpose
    attempt: int
    level: int
    due_at: datetime
    created_at: datetime
    status: LegStatus = LegStatus.PENDING
    updated_at: datetime | None = None
    provider_ref: str = ""
    detail: str = ""
    interrupted: bool = False  # closed by leg_interrupted: its replacement is not a redial

    @property
    def id(self) -> str:
        """The idempotency key: one row, one placement, per (incident, recipient, channel, attempt)."""
        return leg_id(self.incident_id, self.recipient.key, self.channel, self.purpose, self.attempt)


def leg_id(incident_id: str, recipient_key: str, channel: Channel, purpose: LegPurpose, attempt: int) -> str:
    return f"{incident_id}/{recipient_key}/{channel}/{purpose}/{attempt}"


@dataclass(slots=True)
class Incident:
    id: str
    caller: str
    household_id: int | None
    label: str
    address: str
    opened_at: datetime
    plan: FanOutPlan
    caller_trust: CallerTrust
    status: IncidentStatus = IncidentStatus.ALERTING
    emergency_type: EmergencyType = EmergencyType.UNKNOWN
    press_count: int = 1
    last_press_at: datetime | None = None
    level: int = 0
    urgent: bool = False
    escalation_token: int = 0
    next_escalation_at: datetime | None = None
    closed_at: datetime | None = None
    acks: list[Acknowledgement] = field(default_factory=list)
    legs: dict[str, AlertLeg] = field(default_factory=dict)
    version: int = 0
    new_events: list[IncidentEvent] = field(default_factory=list)
    changed_legs: set[str] = field(default_factory=set)

    # -- opening and escalation ------------------------------------------------------------

    @classmethod
    def open(cls, incident_id: str, caller: str, household_id: int | None, label: str, address: str,
             plan: FanOutPlan, policy: EscalationPolicy, now: datetime, *, trust: CallerTrust,
             hold: bool = True) -> Incident:
        """A key press opens the incident. An unverified caller's is held for the operators (``hold``
        False: alerted at once all the same, e.g. while the database, and so the console, is down)."""
        incident = cls(incident_id, caller, household_id, label, address, now, plan, trust, last_press_at=now)
        actor = Actor("household", label) if household_id is not None else Actor("caller", caller)
        incident._event(now, "opened", actor, caller=caller, household_id=household_id, trust=trust)
        if household_id is None:
            incident._mark_urgent(now, "unknown caller: no household has this line")
        if trust.is_verified:
            incident._enter_level(0, now, policy)
        elif hold and policy.unverified_hold > timedelta(0):
            incident._hold(now, policy)
        else:
            incident._mark_urgent(now, "unverified caller: alerted without an operator's check")
            incident._enter_level(0, now, policy)
        return incident

    @property
    def is_unknown_caller(self) -> bool:
        return self.household_id is None

    @property
    def is_held(self) -> bool:
        """Nobody alerted yet: the caller is unverified and no operator has released the incident."""
        return self.level == HELD_LEVEL and self.status is IncidentStatus.ALERTING

    def escalation_due(self, level: int, token: int, now: datetime, policy: EscalationPolicy,
                       summarised: frozenset[str] = frozenset()) -> bool:
        """A timer fired. Acts only if it is still the timer this state expects. For a held incident
        this is the end of its hold: level 0 is alerted although no operator released it.
        ``summarised``: recipients a mass-event summary covers instead of a leg of this incident."""
        due = self.next_escalation_at
        if (self.status is not IncidentStatus.ALERTING or token != self.escalation_token
                or level != self.level + 1 or due is None or now < due):
            return False
        if self.level == HELD_LEVEL:
            self._event(now, "released", SYSTEM, reason="hold ended, no operator released it")
        elif policy.congestion.clock_from_first_call and self._level_untried():
            # Every call of this level still waits for a trunk channel: its neighbours were never
            # called, so climbing past them would only queue more calls. The clock starts when the
            # first of them rings (``_first_call_placed``).
            self.escalation_token += 1
            self.next_escalation_at = None
            self._event(now, "escalation_waits", SYSTEM, level=self.level,
                        reason="no call of this level has been placed yet: the trunk is full")
            return False
        self._enter_level(level, now, policy, summarised)
        return True

    def _level_untried(self) -> bool:
        """The current level's calls all wait in a channel's queue for a trunk channel: none was placed.
        (A leg still pending was never handed to a channel: that is no sign of a full trunk, and the
        auditor flags it when late.)"""
        calls = [leg for leg in self.legs.values()
                 if leg.level == self.level and leg.channel is Channel.CALL and leg.purpose is LegPurpose.ALERT
                 and leg.status is not LegStatus.CANCELLED]
        return any(leg.status is LegStatus.QUEUED for leg in calls) and all(leg.status.is_waiting for leg in calls)

    def _first_call_placed(self, leg: AlertLeg, was: LegStatus, now: datetime, policy: EscalationPolicy) -> None:
        """The current level's first call left a channel's queue for a trunk channel: the level's wait
        runs from now, unless that moves it by less than a second (on a free trunk the first call
        leaves at once and nothing changes)."""
        if (not policy.congestion.clock_from_first_call or self.status is not IncidentStatus.ALERTING
                or leg.level != self.level or self.level == HELD_LEVEL or leg.channel is not Channel.CALL
                or leg.purpose is not LegPurpose.ALERT or was is not LegStatus.QUEUED or not leg.status.was_placed):
            return
        if any(other is not leg and other.level == self.level and other.channel is Channel.CALL
               and other.purpose is LegPurpose.ALERT and other.status.was_placed for other in self.legs.values()):
            return
        rule = policy.level(self.level)
        if rule is None or rule.wait is None or self.level + 1 >= len(self.plan.levels):
            return
        due = now + rule.wait
        if self.next_escalation_at is not None and due <= self.next_escalation_at + _CLOCK_SLACK:
            return
        self.escalation_token += 1
        self.next_escalation_at = due
        self._event(now, "level_clock", SYSTEM, level=self.level, next_escalation_at=due,
                    reason="the level's first call left the queue for a trunk channel")

    def release(self, actor: Actor, now: datetime, policy: EscalationPolicy) -> None:
        """An operator checked a held incident (called the household back, say) and alerts its neighbours."""
        if not self.is_held:
            raise IncidentError(f"incident {self.id} is not held: its neighbours are alerted already")
        self._event(now, "released", actor, reason="released by an operator")
        self._enter_level(0, now, policy)

    def keep_held(self, reason: str, now: datetime) -> bool:
        """Its hold no longer ends by itself (it came from a source banned for forging presses): only an
        operator releases it. False if it is not held, or already kept."""
        if not self.is_held or self.next_escalation_at is None:
            return False
        self.escalation_token += 1
        self.next_escalation_at = None
        self._event(now, "hold_kept", SYSTEM, reason=reason)
        return True

    def _hold(self, now: datetime, policy: EscalationPolicy) -> None:
        self.level = HELD_LEVEL
        self.escalation_token += 1
        self.next_escalation_at = now + policy.unverified_hold
        self._event(now, "held_unverified", SYSTEM, release_at=self.next_escalation_at)
        self._mark_urgent(now, "unverified caller: the neighbours wait for an operator's release")

    def press_again(self, now: datetime, policy: EscalationPolicy, counted: bool = True, *,
                    trust: CallerTrust, summarised: frozenset[str] = frozenset()) -> None:
        """The same household pressed again while this incident is open.

        Each counted press climbs ``repeat_press_jump`` levels; every level passed on the way is
        alerted too. A press over the line's rate limit (``counted`` False) or from an unverified
        caller is only written on the timeline: never lost, but it climbs nothing, so a forged
        number can neither start nor escalate anyone's alert. A verified press releases a held
        incident (the household itself is calling).
        """
        self._require_open()
        self.press_count += 1
        self.last_press_at = now
        actor = Actor("household", self.label)
        if not counted or not trust.is_verified:
            reason = f"over {policy.press_limit.counted_per_minute} presses a minute" if trust.is_verified \
                else "unverified caller"
            unverified = {} if trust.is_verified else {"trust": trust}
            self._event(now, "pressed_again", actor, press_count=self.press_count, counted=False, reason=reason,
                        **unverified)
            return
        self._event(now, "pressed_again", actor, press_count=self.press_count)
        if self.is_held:
            self._event(now, "released", actor, reason=f"a press the edge verified ({trust})")
            self.caller_trust = trust  # the household itself called: the forged press no longer speaks for it
            self._enter_level(0, now, policy)
            return
        if self.status is IncidentStatus.ACKNOWLEDGED:
            self._mark_urgent(now, "pressed again after help was confirmed")
            return
        target = min(self.level + policy.repeat_press_jump, len(self.plan.levels) - 1)
        for index in range(self.level + 1, target + 1):
            self._enter_level(index, now, policy, summarised)

    def flag_press_after_close(self, previous_id: str, closed_at: datetime, now: datetime) -> None:
        """This incident opened soon after the household's previous one was closed: a stuck key or a
        second emergency. It alerts as usual; the operators are asked to check."""
        seconds = max(0.0, (now - closed_at).total_seconds())
        self._event(now, "press_after_close", SYSTEM, previous_incident=previous_id, seconds=round(seconds, 1))
        self._mark_urgent(now, f"pressed {seconds:.0f} s after incident {previous_id} was closed")

    def _enter_level(self, index: int, now: datetime, policy: EscalationPolicy,
                     summarised: frozenset[str] = frozenset()) -> None:
        planned = self.plan.level(index)
        rule = policy.level(index)
        if planned is None or rule is None:
            raise IncidentError(f"no escalation level {index}")
        self.level = index
        self.escalation_token += 1
        has_next = index + 1 < len(self.plan.levels) and rule.wait is not None
        self.next_escalation_at = now + rule.wait if has_next and rule.wait is not None else None
        self._event(now, "level_entered", SYSTEM, level=index, name=planned.name,
                    next_escalation_at=self.next_escalation_at)
        if planned.urgent:
            self._mark_urgent(now, f"escalation reached {planned.name}")
        self._plan_level_legs(planned, now, summarised)

    def _plan_level_legs(self, planned: PlannedLevel, now: datetime, summarised: frozenset[str]) -> None:
        # One pass over the legs, not one per recipient and channel: a level plans twenty legs.
        in_progress = self._alerts_in_progress()
        covered = [item.recipient for item in planned.recipients if item.recipient.key in summarised]
        if covered:
            # A mass event: these get one summary for all their incidents (MassEventSummaries).
            self._event(now, "summarised", SYSTEM, level=planned.index, recipients=[r.name for r in covered],
                        reason="mass event: one summary for all incidents instead of a call for each")
        for item in planned.recipients:
            if self._has_acknowledged(item.recipient) or item.recipient.key in summarised:
                continue
            for channel in item.channels:
                if (item.recipient.key, channel) not in in_progress:
                    self._add_leg(item.recipient, channel, LegPurpose.ALERT, planned.index, now, now)
                    in_progress.add((item.recipient.key, channel))

    # -- legs ------------------------------------------------------------------------------

    def record_outcome(self, leg_ref: str, outcome: LegStatus, now: datetime, policy: EscalationPolicy,
                       detail: str = "", provider_ref: str = "") -> bool:
        """A channel reported on a leg. Returns False when the report is stale or a duplicate.

        A stale report changes nothing and adds nothing to the timeline: channels repeat themselves
        (Twilio's "completed" after a key, a second "dialing"), and the operators have nothing to do
        about it. The caller logs it.
        """
        leg = self.legs.get(leg_ref)
        if leg is None:
            raise IncidentError(f"incident {self.id} has no leg {leg_ref}")
        if outcome not in CHANNEL_OUTCOMES[leg.channel]:
            raise IncidentError(f"{leg.channel} leg cannot report {outcome}")
        if not _moves_forward(leg, outcome):
            return False
        was = leg.status
        self._set_leg(leg, outcome, now, detail, provider_ref)
        self._first_call_placed(leg, was, now, policy)
        if outcome is LegStatus.ACKNOWLEDGED and leg.purpose is LegPurpose.ALERT:
            # A "1" sent back to a help-coming or cancellation text is no answer to the alert.
            self._acknowledge(leg.recipient, now, leg.id, policy)
        elif outcome.is_final:
            self._maybe_redial(leg, now, policy)
        return True

    def accepts_outcome(self, leg_ref: str, outcome: LegStatus) -> bool:
        """Whether ``record_outcome`` would move the leg on (a replayed report applied twice does not)."""
        leg = self.legs.get(leg_ref)
        return leg is not None and outcome in CHANNEL_OUTCOMES[leg.channel] and _moves_forward(leg, outcome)

    def leg_interrupted(self, leg_ref: str, now: datetime, policy: EscalationPolicy, reason: str) -> None:
        """A leg was in flight on an instance that died: close it and place a fresh attempt.

        The replacement does not count against the redial limit: the recipient may never have rung.
        """
        leg = self.legs.get(leg_ref)
        if leg is None:
            raise IncidentError(f"incident {self.id} has no leg {leg_ref}")
        if leg.status.is_final:
            return
        leg.interrupted = True
        self._set_leg(leg, LegStatus.FAILED, now, reason, leg.provider_ref)
        stopped = leg.purpose is LegPurpose.ALERT and self.status is not IncidentStatus.ALERTING
        if not stopped and not (leg.purpose is LegPurpose.ALERT and self._has_acknowledged(leg.recipient)):
            self._add_leg(leg.recipient, leg.channel, leg.purpose, leg.level, now, now, leg.attempt + 1)

    def pending_legs(self) -> list[AlertLeg]:
        return [leg for leg in self.legs.values() if leg.status is LegStatus.PENDING]

    def _maybe_redial(self, leg: AlertLeg, now: datetime, policy: EscalationPolicy) -> None:
        if (leg.purpose is not LegPurpose.ALERT or self.status is not IncidentStatus.ALERTING
                or not policy.redial.wants(leg.channel, leg.status)
                or self._redials_before(leg) >= policy.redial.max_redials
                or self._has_acknowledged(leg.recipient)):
            return
        self._add_leg(leg.recipient, leg.channel, leg.purpose, leg.level, now, now + policy.redial.after,
                      leg.attempt + 1)

    def _redials_before(self, leg: AlertLeg) -> int:
        """Redials already spent on this recipient and channel: earlier attempts not cut by a restart."""
        interrupted = sum(1 for other in self.legs.values()
                          if other.interrupted and other.attempt < leg.attempt
                          and (other.recipient.key, other.channel, other.purpose)
                          == (leg.recipient.key, leg.channel, leg.purpose))
        return leg.attempt - 1 - interrupted

    def _add_leg(self, recipient: Recipient, channel: Channel, purpose: LegPurpose, level: int,
                 now: datetime, due: datetime, attempt: int = 1) -> AlertLeg:
        leg = AlertLeg(self.id, recipient, channel, purpose, attempt, level, due, now, updated_at=now)
        if leg.id in self.legs:
            return self.legs[leg.id]
        self.legs[leg.id] = leg
        self.changed_legs.add(leg.id)
        self._event(now, "leg_planned", SYSTEM, leg=leg.id, recipient=recipient.name, role=recipient.role,
                    channel=channel, purpose=purpose, attempt=attempt, due_at=due)
        return leg

    def _set_leg(self, leg: AlertLeg, status: LegStatus, now: datetime, detail: str, ref: str) -> None:
        leg.status = status
        leg.updated_at = now
        leg.detail = detail or leg.detail
        leg.provider_ref = ref or leg.provider_ref
        self.changed_legs.add(leg.id)
        self._event(now, "leg_status", SYSTEM, leg=leg.id, recipient=leg.recipient.name, channel=leg.channel,
                    attempt=leg.attempt, status=status, detail=detail)

    def _alerts_in_progress(self) -> set[tuple[str, Channel]]:
        """(recipient, channel) of the alert legs not yet final."""
        return {(leg.recipient.key, leg.channel) for leg in self.legs.values()
                if leg.purpose is LegPurpose.ALERT and not leg.status.is_final}

    def _cancel_pending(self, now: datetime, reason: str, recipient: Recipient | None = None) -> None:
        """Stand down the alerts not placed yet: planned, or waiting in a channel for a trunk channel."""
        for leg in [leg for leg in self.legs.values() if leg.status.is_waiting]:
            if leg.purpose is LegPurpose.ALERT and (recipient is None or leg.recipient.key == recipient.key):
                self._set_leg(leg, LegStatus.CANCELLED, now, reason, "")

    def _alerted_recipients(self) -> list[Recipient]:
        seen: dict[str, Recipient] = {}
        for leg in self.legs.values():
            if leg.purpose is LegPurpose.ALERT and leg.status.was_placed:
                seen.setdefault(leg.recipient.key, leg.recipient)
        return list(seen.values())

    def _notify(self, recipients: list[Recipient], purpose: LegPurpose, now: datetime) -> None:
        for recipient in recipients:
            self._add_leg(recipient, Channel.SMS, purpose, self.level, now, now)

    def add_summary(self, recipient: Recipient, now: datetime) -> AlertLeg:
        """A mass-event summary to an upper-level recipient goes out as an SMS leg of this incident
        (one of theirs), so its delivery shows on a timeline like any other message."""
        self._require_open()
        sent = sum(1 for leg in self.legs.values()
                   if leg.purpose is LegPurpose.SUMMARY and leg.recipient.key == recipient.key)
        return self._add_leg(recipient, Channel.SMS, LegPurpose.SUMMARY, self.level, now, now, sent + 1)

    # -- acknowledgements and quorum -------------------------------------------------------

    def acknowledge_on_behalf(self, recipient_key: str, operator: Actor, now: datetime,
                              policy: EscalationPolicy) -> None:
        self._require_open()
        recipient = self.plan.recipient(recipient_key)
        if recipient is None:
            raise IncidentError(f"{recipient_key} is not a responder of incident {self.id}")
        self._acknowledge(recipient, now, f"operator:{operator.name}", policy)

    def _has_acknowledged(self, recipient: Recipient) -> bool:
        return any(a.recipient.key == recipient.key for a in self.acks)

    def _acknowledge(self, recipient: Recipient, now: datetime, via: str, policy: EscalationPolicy) -> None:
        if self._has_acknowledged(recipient):
            return
        self.acks.append(Acknowledgement(recipient, now, via))
        self._event(now, "acknowledged", Actor("responder", recipient.name), role=recipient.role, via=via,
                    count=len(self.acks))
        self._cancel_pending(now, "already acknowledged", recipient)
        roles = [Role(a.recipient.role) for a in self.acks]
        if self.status is IncidentStatus.ALERTING and policy.quorum.met(roles):
            self._on_quorum(now)

    def _on_quorum(self, now: datetime) -> None:
        self.status = IncidentStatus.ACKNOWLEDGED
        self.next_escalation_at = None
        self.escalation_token += 1
        self._event(now, "quorum_met", SYSTEM, acknowledged_by=[a.recipient.name for a in self.acks])
        self._cancel_pending(now, "quorum met")
        others = [r for r in self._alerted_recipients() if not self._has_acknowledged(r)]
        self._notify(others, LegPurpose.HELP_COMING, now)

    # -- operator and household commands ---------------------------------------------------

    def cancel(self, actor: Actor, now: datetime) -> None:
        """The household called it off (IVR key 9, confirmed): everyone alerted hears so."""
        self._close(IncidentStatus.CANCELLED, actor, now)
        self._notify(self._alerted_recipients(), LegPurpose.CANCELLATION, now)

    def mark_false_alarm(self, actor: Actor, now: datetime) -> None:
        self._close(IncidentStatus.FALSE_ALARM, actor, now)
        self._notify(self._alerted_recipients(), LegPurpose.CANCELLATION, now)

    def resolve(self, actor: Actor, now: datetime, note: str = "") -> None:
        self._close(IncidentStatus.RESOLVED, actor, now, note=note)

    def set_type(self, emergency_type: EmergencyType, actor: Actor, now: datetime) -> None:
        self._require_open()
        if emergency_type is self.emergency_type:
            return
        self._event(now, "type_set", actor, previous=self.emergency_type, type=emergency_type)
        self.emergency_type = emergency_type

    def add_note(self, text: str, actor: Actor, now: datetime) -> None:
        text = text.strip()
        if not text:
            raise IncidentError("a note needs text")
        self._event(now, "note", actor, text=text[:2000])

    def attach_voice_message(self, path: str, seconds: float, actor: Actor, now: datetime) -> None:
        """A recording the caller left (IVR): kept on the timeline even after the incident closed,
        because what the caller said is evidence whatever became of the alert."""
        path = path.strip()
        if not path:
            raise IncidentError("a voice message needs the path of its recording")
        if not math.isfinite(seconds) or seconds < 0:
            raise IncidentError(f"a voice message cannot last {seconds} seconds")
        self._event(now, "voice_message", actor, path=path, seconds=round(seconds, 1))

    def _close(self, status: IncidentStatus, actor: Actor, now: datetime, **data: Any) -> None:
        self._require_open()
        self._event(now, str(status), actor, previous=self.status, **data)
        self.status = status
        self.closed_at = now
        self.next_escalation_at = None
        self.escalation_token += 1
        self._cancel_pending(now, f"incident {status}")

    def _require_open(self) -> None:
        if not self.status.is_open:
            raise IncidentError(f"incident {self.id} is {self.status}")

    def _mark_urgent(self, now: datetime, reason: str) -> None:
        if not self.urgent:
            self.urgent = True
        self._event(now, "urgent", SYSTEM, reason=reason)

    def _event(self, now: datetime, kind: str, actor: Actor, **data: Any) -> None:
        self.new_events.append(IncidentEvent(now, kind, str(actor), data))


    # -- operator records (console) --------------------------------------------------------

    def record_dispatch(self, agency: str, dispatched_at: datetime, reference: str, actor: Actor,
                        now: datetime) -> None:
        """An operator handed the incident to 110 (police), 119 (fire) or 120 (ambulance)."""
        if agency not in DISPATCH_AGENCIES:
            raise IncidentError(f"dispatch goes to one of {', '.join(DISPATCH_AGENCIES)}, not {agency!r}")
        if dispatched_at > now:
            raise IncidentError("a dispatch cannot be recorded in the future")
        self._event(now, "dispatch", actor, agency=agency, label=DISPATCH_AGENCIES[agency],
                    dispatched_at=dispatched_at, reference=reference.strip()[:100])

    def record_call_back(self, operator_phone: str, household_line: str, reference: str, actor: Actor,
                         now: datetime) -> None:
        """An operator had the household called back (their own phone first, then the household)."""
        self._event(now, "call_back", actor, operator_phone=operator_phone, household_line=household_line,
                    reference=reference)


DISPATCH_AGENCIES: dict[str, str] = {"110": "公安 110", "119": "消防 119", "120": "急救 120"}


def _moves_forward(leg: AlertLeg, outcome: LegStatus) -> bool:
    if leg.status is outcome:
        return False
    if leg.status.is_final:
        # An SMS reply may acknowledge after delivery; nothing else reopens a final leg.
        return leg.channel is Channel.SMS and leg.status in (LegStatus.DELIVERED, LegStatus.SUBMITTED) \
            and outcome in (LegStatus.ACKNOWLEDGED, LegStatus.DECLINED)
    return outcome.is_final or LEG_PROGRESS.get(outcome, 0) > LEG_PROGRESS.get(leg.status, 0)

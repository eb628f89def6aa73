"""Mass events: when many incidents alert at once, upper levels get one summary, not a call each.

In a typhoon a township's duty officer and its police station are upper-level targets of every
household of the township. Calling them once per incident rings a police station hundreds of times
while villages next door wait for a first neighbour. The board keeps, for each upper-level recipient
(a target of a level from ``summary_from_level`` on), the alerting incidents that list them. With
``open_incidents`` or more at once that recipient is in a mass event: an incident that climbs to
their level plans no leg for them (``summarised``), and the leader sends them a summary SMS every
``summary_every`` while it lasts: how many incidents are alerting, how many have no call placed
yet, and the console's link. A recipient no SMS reaches (``can_text`` says no: a landline-only police
station, whose routes list no SMS path) is never summarised: they keep their call per incident, since
a summary nobody receives would leave them with nothing at all.

The board learns the incidents from the engine's commands in this process (each commit shows it
the incident). Every escalation runs on the leader, so the leader sees every incident that climbs;
one opened on another instance counts here from its first escalation or report on the leader.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from callcenter.domain.incident import Incident
from callcenter.domain.policy import EscalationPolicy
from callcenter.domain.types import Channel, IncidentStatus, LegPurpose, Recipient

__all__ = ["DueSummary", "FloodView", "MassEventBoard"]


@dataclass(frozen=True, slots=True)
class _Seen:
    """What the board keeps of one alerting incident."""

    upper: dict[str, int]  # upper-level recipient key → the level that targets them
    level: int
    called: bool  # a call of the incident was placed (left the trunk queue)


@dataclass(frozen=True, slots=True)
class DueSummary:
    """One summary to send: to ``recipient``, attached to ``incident_id`` (one of theirs, latest first)."""

    recipient: Recipient
    incident_id: str
    alerting: int
    never_called: int


@dataclass(frozen=True, slots=True)
class FloodView:
    """For the operators' banner: the alerting incidents this process knows and how far they got."""

    alerting: int
    never_called: int
    recipients_in_mass_event: int


class MassEventBoard:
    def __init__(self, policy: EscalationPolicy, link: str = "",
                 can_text: Callable[[str], bool] = lambda phone: True) -> None:
        self.policy = policy
        self.link = link  # the console, named in every summary
        self.can_text = can_text  # phone → whether a summary SMS can reach it
        self._seen: dict[str, _Seen] = {}
        self._recipients: dict[str, Recipient] = {}
        self._last_sent: dict[str, datetime] = {}
        self._lock = threading.Lock()

    @property
    def _rule(self) -> tuple[int, int]:
        mass = self.policy.congestion.mass_event
        return mass.summary_from_level, mass.open_incidents

    def observe(self, incident: Incident) -> None:
        """The incident as a command left it."""
        with self._lock:
            # Only presses the edge verified count: forged ones (held, or alerted after their hold)
            # must not make a township's police a summary-only recipient for real emergencies.
            if incident.status is not IncidentStatus.ALERTING or not incident.caller_trust.is_verified:
                self._seen.pop(incident.id, None)
                return
            seen = self._seen.get(incident.id)
            upper = seen.upper if seen is not None else self._upper_of(incident)
            called = (seen is not None and seen.called) or any(
                leg.channel is Channel.CALL and leg.purpose is LegPurpose.ALERT and leg.status.was_placed
                for leg in incident.legs.values())
            self._seen[incident.id] = _Seen(upper, incident.level, called)

    def _upper_of(self, incident: Incident) -> dict[str, int]:
        from_level, _ = self._rule
        upper: dict[str, int] = {}
        for level in incident.plan.levels[from_level:]:
            for item in level.recipients:
                if not self.can_text(item.recipient.phone):
                    continue
                upper.setdefault(item.recipient.key, level.index)
                self._recipients.setdefault(item.recipient.key, item.recipient)
        return upper

    def summarised(self, incident: Incident) -> frozenset[str]:
        """The upper-level recipients of ``incident`` in a mass event now: no leg of its own for them."""
        with self._lock:
            seen = self._seen.get(incident.id)
            upper = seen.upper if seen is not None else self._upper_of(incident)
            return frozenset(key for key in upper if self._in_mass_event(key))

    def _in_mass_event(self, key: str) -> bool:
        _, threshold = self._rule
        return sum(1 for seen in self._seen.values() if key in seen.upper) >= threshold

    def due(self, now: datetime) -> list[DueSummary]:
        """Summaries to send now: to each recipient in a mass event whose level at least one of its
        incidents has reached, if their last summary is older than ``summary_every``."""
        every = self.policy.congestion.mass_event.summary_every
        found: list[DueSummary] = []
        with self._lock:
            for key, recipient in self._recipients.items():
                last = self._last_sent.get(key)
                if (last is not None and now - last < every) or not self._in_mass_event(key):
                    continue
                mine = [(incident_id, seen) for incident_id, seen in self._seen.items() if key in seen.upper]
                reached = [incident_id for incident_id, seen in mine if seen.level >= seen.upper[key]]
                if not reached:
                    continue
                self._last_sent[key] = now
                found.append(DueSummary(recipient, max(reached), len(mine),
                                        sum(1 for _, seen in mine if not seen.called)))
        return found

    def counts(self, key: str) -> tuple[int, int]:
        """(alerting incidents listing the recipient, those of them with no call placed yet)."""
        with self._lock:
            mine = [seen for seen in self._seen.values() if key in seen.upper]
            return len(mine), sum(1 for seen in mine if not seen.called)

    def flood(self) -> FloodView:
        with self._lock:
            keys = {key for seen in self._seen.values() for key in seen.upper}
            return FloodView(len(self._seen), sum(1 for seen in self._seen.values() if not seen.called),
                             sum(1 for key in keys if self._in_mass_event(key)))

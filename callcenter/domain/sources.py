"""Per-source limit on unverified presses: which network source is banned, and until when.

Kamailio's pike and its bans stop floods of packets; this stops the slow kind, one spoofed 995 call at
a time from one address, each claiming another household. Every press still opens or joins an incident
(an emergency is never dropped), but a banned source's incidents stay held until an operator releases
them. Pure: the source's record and ``now`` come in, the new record goes out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from callcenter.domain.policy import SourceLimit

__all__ = ["INCIDENTS_KEPT", "LINES_KEPT", "SourceRecord", "SourceVerdict", "judge_unverified", "with_incident"]

LINES_KEPT = 20  # the lines a source claimed, newest last: enough for the operators to see the pattern
INCIDENTS_KEPT = 50  # held incidents it opened, to keep them held once it is banned


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """What the service remembers of one source's unverified presses."""

    source: str
    recent: tuple[datetime, ...] = ()  # unverified presses within the window, oldest first
    banned_until: datetime | None = None
    banned_at: datetime | None = None
    presses_while_banned: int = 0
    lines: tuple[str, ...] = ()
    incidents: tuple[str, ...] = ()
    last_at: datetime | None = None

    def banned(self, now: datetime) -> bool:
        return self.banned_until is not None and now < self.banned_until

    def lifted(self) -> SourceRecord:
        """An operator lifted the ban: the source starts afresh."""
        return SourceRecord(self.source, lines=self.lines, incidents=self.incidents, last_at=self.last_at)


@dataclass(frozen=True, slots=True)
class SourceVerdict:
    record: SourceRecord
    banned: bool  # this press comes from a banned source: its incident stays held
    banned_now: bool  # this press crossed the limit: the source's earlier held incidents stay held too


def judge_unverified(record: SourceRecord, line: str, now: datetime, limit: SourceLimit) -> SourceVerdict:
    """An unverified press from ``record.source`` claiming ``line`` at ``now``."""
    lines = _kept((*[x for x in record.lines if x != line], line), LINES_KEPT)
    if record.banned(now):
        updated = replace(record, lines=lines, last_at=now, presses_while_banned=record.presses_while_banned + 1)
        return SourceVerdict(updated, banned=True, banned_now=False)
    recent = (*(t for t in record.recent if now - t < limit.window), now)
    if len(recent) > limit.presses:
        updated = replace(record, recent=(), banned_until=now + limit.ban, banned_at=now, presses_while_banned=1,
                          lines=lines, last_at=now)
        return SourceVerdict(updated, banned=True, banned_now=True)
    return SourceVerdict(replace(record, recent=recent, lines=lines, last_at=now), banned=False, banned_now=False)


def with_incident(record: SourceRecord, incident_id: str) -> SourceRecord:
    """Remember a held incident this source opened (at most ``INCIDENTS_KEPT``, newest kept)."""
    if incident_id in record.incidents:
        return record
    return replace(record, incidents=_kept((*record.incidents, incident_id), INCIDENTS_KEPT))


def _kept(items: tuple[str, ...], size: int) -> tuple[str, ...]:
    return items[-size:]

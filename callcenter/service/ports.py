"""Ports of the incident engine: every external system behind one small interface.

Real adapters: SQL storage (callcenter.db.incident_repo), APScheduler timers
(callcenter.adapters.scheduler), the system clock (callcenter.adapters.clock), SIP and Twilio channels
(callcenter.sip, callcenter.twilio). Fakes, for tests only: callcenter.adapters.fakes (timers, channels)
and callcenter.adapters.memory (incident store, directory).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from callcenter.domain.incident import Incident, IncidentEvent
from callcenter.domain.messages import MessageFacts
from callcenter.domain.sources import SourceRecord
from callcenter.domain.types import Channel, LegPurpose, LegStatus, Recipient
from contacts.model import CallerLookup

__all__ = [
    "AlertChannel", "Clock", "ConcurrentUpdateError", "DirectoryReader", "EventPublisher", "IncidentRepository",
    "IncidentStore", "LedgerSnapshot", "LegClaims", "LegOrder", "LegRef", "OutcomeSink", "Overdue", "PressRecords",
    "Timer", "Timers", "UnitOfWork", "close_sends", "handed_over_status", "is_queued",
]


class Clock(Protocol):
    def now(self) -> datetime: ...


class DirectoryReader(Protocol):
    def household_by_caller(self, number: str) -> CallerLookup | None: ...


@dataclass(frozen=True, slots=True)
class LegOrder:
    """What a channel needs to place one alert leg."""

    leg_id: str
    incident_id: str
    channel: Channel
    purpose: LegPurpose
    attempt: int
    recipient: Recipient
    text: str  # the SMS body, or the alert read out when no recorded prompt fits
    facts: MessageFacts
    incident_level: int = 0  # the incident's escalation level when the leg was handed over
    leg_level: int = 0  # the level that planned this leg
    # While calls wait for channels: how many calls this incident wants up at once (its quorum's
    # remaining need plus the policy's margin; callcenter/service/dial_queue.py).
    calls_wanted: int = 1
    # The named values ``text`` was rendered from (label, address, caller, time, date, type,
    # acknowledged_by; a summary's alerting, never_called, link): what a template provider
    # (Aliyun, Tencent) fits to its approved template (callcenter.domain.sms_templates).
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def priority(self) -> tuple[int, datetime]:
        """Sort key for a rate-limited send queue (Twilio's pacer): highest escalation level first,
        then the oldest press. Trunk channels are shared by FairDialQueue instead."""
        return (-self.incident_level, self.facts.pressed_at)


class OutcomeSink(Protocol):
    """Where channels report what happened to a leg (the engine)."""

    def leg_outcome(self, leg_id: str, status: LegStatus, detail: str = "", provider_ref: str = "") -> None: ...


class AlertChannel(Protocol):
    """A way to reach a recipient: places the leg and reports outcomes to the sink later.

    ``send`` returns the provider's reference once it accepted the leg (or raises); it never
    waits for the recipient. ``survives_restart`` says whether a leg in flight outlives our process
    (a Twilio call does; a SIP dialog on our own socket does not).
    """

    name: str
    survives_restart: bool

    def send(self, order: LegOrder) -> str: ...


def handed_over_status(channel: object, order: LegOrder, ref: str) -> LegStatus:
    """What a leg is once ``channel`` took it: an SMS submitted; a call dialling, or queued when the
    channel holds it for a free trunk channel (its ``is_queued(ref)``; wrappers pass it on). A call
    that leaves the queue meanwhile is reported dialling by its channel, which moves it on either way."""
    if order.channel is not Channel.CALL:
        return LegStatus.SUBMITTED
    queued = getattr(channel, "is_queued", None)
    return LegStatus.QUEUED if queued is not None and queued(ref) else LegStatus.DIALING


def is_queued(channel: object, ref: str) -> bool:
    """For wrappers: whether the channel they wrap holds ``ref`` waiting for a trunk channel."""
    queued = getattr(channel, "is_queued", None)
    return bool(queued is not None and queued(ref))


def close_sends(channel: object) -> None:
    """The service is stopping: a channel whose sends wait for a slot (``close_sends``, Twilio's
    pacer; wrappers pass it on) sends nothing more. Others have nothing waiting to stop."""
    close = getattr(channel, "close_sends", None)
    if close is not None:
        close()


@dataclass(frozen=True, slots=True)
class Timer:
    """A wake-up for one incident. Carries enough to re-check stored state when it fires."""

    job_id: str
    at: datetime
    kind: str  # "escalate" or "leg_due"
    incident_id: str
    level: int = 0
    token: int = 0
    leg_id: str = ""


class Timers(Protocol):
    def schedule(self, timer: Timer) -> None: ...

    def cancel(self, job_id: str) -> None: ...


class EventPublisher(Protocol):
    def publish(self, incident_id: str, events: Sequence[IncidentEvent]) -> None: ...


class ConcurrentUpdateError(Exception):
    """Another writer changed the incident (or took its open key) since it was read."""


@dataclass(frozen=True, slots=True)
class LegRef:
    incident_id: str
    leg_id: str
    provider: str = ""
    claimed_by: str | None = None
    phone: str = ""  # the recipient's number (read with legs in flight: their calls may need a CANCEL)


@dataclass(frozen=True, slots=True)
class Overdue:
    """An escalation (``what`` = "escalation to level N") or a leg ("leg ID") late by ``late_by``."""

    incident_id: str
    what: str
    due_at: datetime
    late_by: timedelta


@dataclass(frozen=True, slots=True)
class LegClaims:
    """Legs of a new incident stored as already handed to a channel by ``holder`` (leg id → channel name)."""

    holder: str
    at: datetime
    providers: dict[str, str]


class IncidentRepository(Protocol):
    def get(self, incident_id: str) -> Incident | None: ...

    def find_open(self, open_key: str) -> Incident | None: ...

    def add(self, incident: Incident, open_key: str | None, claims: LegClaims | None = None) -> None: ...

    def save(self, incident: Incident, now: datetime) -> None: ...

    def release_open_key(self, incident_id: str) -> None: ...

    def record_claims(self, claims: Sequence[tuple[str, str, str, datetime]]) -> None:
        """(leg id, holder, provider, claimed at) of legs placed while the database was away."""

    def claimed_legs(self, incident_id: str) -> frozenset[str]:
        """Legs of an incident read or written in this unit of work that an instance has claimed."""


class UnitOfWork(Protocol):
    @property
    def incidents(self) -> IncidentRepository: ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None: ...


class IncidentStore(Protocol):
    """Storage: units of work over one incident, plus leg claims and the queries recovery needs."""

    def unit_of_work(self) -> UnitOfWork: ...

    def claim(self, leg_ids: Sequence[str], holder: str, providers: dict[str, str], now: datetime) -> list[str]: ...

    def due_legs(self, now: datetime, limit: int = 500) -> list[LegRef]: ...

    def in_flight_holders(self) -> set[str]: ...

    def in_flight(self, holders: Sequence[str]) -> list[LegRef]: ...

    def open_incident_ids(self) -> list[str]: ...

    def unreported_sms(self, submitted_before: datetime, limit: int = 500) -> list[LegRef]:
        """SMS legs still SUBMITTED (no delivery report) since before ``submitted_before``."""
        ...

    def due_escalations(self, now: datetime) -> list[tuple[str, int, int]]: ...

    def overdue(self, now: datetime, grace: timedelta) -> list[Overdue]: ...

    def append_events(self, incident_id: str, events: list[IncidentEvent]) -> None: ...


@dataclass(frozen=True, slots=True)
class LedgerSnapshot:
    """What the press ledger had written, as read back at start."""

    lines: dict[str, tuple[datetime, ...]]  # a line's counted presses
    closes: dict[str, tuple[str, datetime]]  # a household's last closed incident: (id, closed at)
    sources: dict[str, SourceRecord]


class PressRecords(Protocol):
    """Where the press ledger keeps what must outlive the process (callcenter/service/press_ledger.py)."""

    def load(self, since: datetime) -> LedgerSnapshot:
        """Entries written since ``since``; older ones are forgotten (and may be deleted)."""

    def save_line(self, line: str, presses: tuple[datetime, ...], now: datetime) -> None: ...

    def save_close(self, open_key: str, incident_id: str, closed_at: datetime) -> None: ...

    def save_source(self, record: SourceRecord, now: datetime) -> None: ...

    def sources(self) -> list[SourceRecord]:
        """Every source remembered, as written (the operators' list of bans reads this)."""

"""Which of our SMS legs each provider message is, and what its delivery reports did (any template provider).

A provider's channel records every message it submitted (``Submission``: the provider's message id and
our leg); delivery reports — pushed to our endpoint or fetched by the fallback poll — are matched to it
by message id and become the leg's DELIVERED / UNDELIVERED outcome, once:

- a report for a message id we never submitted (forged, or meant for another system) changes nothing:
  it waits ``park_seconds`` in case our own send is still returning, then is dropped;
- when the provider carries our leg id back too (Aliyun ``out_id``, Tencent ``SessionContext``), it must
  be the submission's, and it settles a submission whose message id we never learnt (a send that timed
  out after the request left: ``unknown:<leg>``);
- the same report twice (a provider retrying its push, a push and then the poll) is recorded once.

What is still waiting is asked for by the fallback poll, tells the path's health whether the provider
stopped reporting, and is given up as ``undelivered: unknown`` after the providers' 72-hour window.
Thread-safe; time is monotonic seconds from ``clock``. No I/O but the sink.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from callcenter.channels.delivery import DELIVERY_WINDOW_HOURS, DeliveryFailure, delivery_detail
from callcenter.channels.ports import OutcomeSink
from callcenter.domain.incident import IncidentError
from callcenter.domain.types import Channel, LegStatus
from callcenter.service.ports import IncidentStore

__all__ = ["UNKNOWN", "DeliveryReport", "ReportLedger", "Settled", "Submission", "stored_submissions"]

log = logging.getLogger(__name__)

UNKNOWN = "unknown:"  # a send's reference when the request may have reached the provider but no answer came


@dataclass(frozen=True, slots=True)
class Submission:
    ref: str  # the provider's message id, or unknown:<leg id>
    leg_id: str
    phone: str  # E.164
    at: float  # monotonic seconds
    sent_at: datetime  # wall clock, aware (a poll may need the send date)

    @property
    def uncertain(self) -> bool:
        return self.ref.startswith(UNKNOWN)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A provider's word on one message: delivered, or why not (its own code kept for the detail)."""

    ref: str  # the provider's message id ("" when only our leg id came back)
    delivered: bool
    failure: DeliveryFailure | None
    code: str
    leg_id: str = ""  # our leg id when the provider carries it back
    key: str = ""  # what makes two pushes the same report; default: message id and code

    @property
    def identity(self) -> str:
        return self.key or f"{self.ref or self.leg_id}|{self.code}"


class Settled:
    RECORDED = "recorded"
    REPLAY = "replay"
    PARKED = "parked"  # no submission of ours (yet)
    MISMATCH = "mismatch"  # the leg id it carries is not the one we sent that message for


class ReportLedger:
    def __init__(self, provider: str, sink: OutcomeSink, clock: Callable[[], float] = time.monotonic,
                 park_seconds: float = 30.0, memory: int = 100_000) -> None:
        self.provider, self.sink, self.clock = provider, sink, clock
        self.park_seconds, self.memory = park_seconds, memory
        self._by_ref: dict[str, Submission] = {}
        self._by_leg: dict[str, Submission] = {}
        self._parked: OrderedDict[str, tuple[float, DeliveryReport]] = OrderedDict()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._last_report: float | None = None
        self._lock = threading.Lock()

    # -- what we sent ----------------------------------------------------------------------

    def submitted(self, submission: Submission) -> None:
        with self._lock:
            self._by_ref[submission.ref] = submission
            self._by_leg[submission.leg_id] = submission
            parked = self._parked.pop(submission.ref, None)
        if parked is not None:
            self.settle(parked[1])

    def restore(self, submissions: Iterable[Submission]) -> int:
        """Messages a previous run submitted and that still wait for a report (after a restart)."""
        count = 0
        for submission in submissions:
            with self._lock:
                self._by_ref.setdefault(submission.ref, submission)
                self._by_leg.setdefault(submission.leg_id, submission)
            count += 1
        return count

    def waiting(self, older_than: float = 0.0) -> list[Submission]:
        """Submissions with no report yet, sent at least ``older_than`` seconds ago, oldest first."""
        cutoff = self.clock() - older_than
        with self._lock:
            return sorted((s for s in self._by_leg.values() if s.at <= cutoff), key=lambda s: s.at)

    def silent(self, seconds: float) -> bool:
        """Messages have waited ``seconds`` and no report at all came in that time: the provider stopped reporting."""
        now = self.clock()
        with self._lock:
            oldest = min((s.at for s in self._by_leg.values()), default=None)
            last = self._last_report
        return oldest is not None and now - oldest >= seconds and (last is None or now - last >= seconds)

    # -- what the provider says ------------------------------------------------------------

    def settle(self, report: DeliveryReport) -> str:
        with self._lock:
            if report.identity in self._seen:
                return Settled.REPLAY
            submission = self._match(report)
            if not isinstance(submission, Submission):
                return self._park(report) if submission is None else Settled.MISMATCH
            self._forget(submission)
            self._remember(report.identity)
            self._last_report = self.clock()
        self._record(submission, report)
        return Settled.RECORDED

    def _match(self, report: DeliveryReport) -> Submission | str | None:
        by_ref = self._by_ref.get(report.ref) if report.ref else None
        if by_ref is not None:
            return by_ref if not report.leg_id or report.leg_id == by_ref.leg_id else Settled.MISMATCH
        by_leg = self._by_leg.get(report.leg_id) if report.leg_id else None
        # Our leg id alone settles only a send whose message id we never learnt.
        return by_leg if by_leg is not None and by_leg.uncertain else None

    def _park(self, report: DeliveryReport) -> str:
        now = self.clock()
        while self._parked and next(iter(self._parked.values()))[0] < now - self.park_seconds:
            self._parked.popitem(last=False)
        if report.ref and len(self._parked) < self.memory:
            self._parked[report.ref] = (now, report)
        return Settled.PARKED

    def _forget(self, submission: Submission) -> None:
        self._by_ref.pop(submission.ref, None)
        if self._by_leg.get(submission.leg_id) == submission:
            del self._by_leg[submission.leg_id]

    def _remember(self, identity: str) -> None:
        self._seen[identity] = None
        while len(self._seen) > self.memory:
            self._seen.popitem(last=False)

    def _record(self, submission: Submission, report: DeliveryReport) -> None:
        status = LegStatus.DELIVERED if report.delivered else LegStatus.UNDELIVERED
        detail = f"{self.provider} {report.code}" if report.delivered else \
            delivery_detail(report.failure or DeliveryFailure.OTHER, report.code)
        ref = f"{self.provider}:{report.ref or submission.ref}"
        self._outcome(submission.leg_id, status, detail, ref)

    def _outcome(self, leg_id: str, status: LegStatus, detail: str, ref: str) -> None:
        try:
            self.sink.leg_outcome(leg_id, status, detail, ref)
        except (IncidentError, LookupError) as exc:  # a report for a leg we do not know changes nothing
            log.warning("%s report for leg %s not recorded: %s", self.provider, leg_id, exc)

    def expire(self, window_seconds: float = DELIVERY_WINDOW_HOURS * 3600.0) -> int:
        """Messages still without a report after the providers' window: undelivered, reason unknown."""
        cutoff = self.clock() - window_seconds
        with self._lock:
            stale = [s for s in self._by_leg.values() if s.at <= cutoff]
            for submission in stale:
                self._forget(submission)
        for submission in stale:
            self._outcome(submission.leg_id, LegStatus.UNDELIVERED, delivery_detail(DeliveryFailure.UNKNOWN),
                          f"{self.provider}:{submission.ref}")
        return len(stale)


def stored_submissions(store: IncidentStore, provider: str, now: float, sent: Callable[[datetime], float]
                       ) -> list[Submission]:
    """SMS legs of open incidents that ``provider`` accepted and that still wait for a report (SUBMITTED,
    provider_ref ``<provider>:<message id>``): what a restarted process must go on waiting for.
    ``sent`` turns a leg's last change into monotonic seconds."""
    found: list[Submission] = []
    prefix = f"{provider}:"
    for incident_id in store.open_incident_ids():
        with store.unit_of_work() as uow:
            incident = uow.incidents.get(incident_id)
        for leg in incident.legs.values() if incident is not None else ():
            if leg.channel is Channel.SMS and leg.status is LegStatus.SUBMITTED and leg.provider_ref.startswith(prefix):
                at = leg.updated_at or leg.created_at
                found.append(Submission(leg.provider_ref[len(prefix):], leg.id, leg.recipient.phone,
                                        min(now, sent(at)), at))
    return found

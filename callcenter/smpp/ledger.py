"""Which leg each submitted message id belongs to, and when a leg's receipts make it final.

A leg's text may go as several parts, each with its own message id from the SMSC. The leg is
DELIVERED when every part's receipt says delivered, UNDELIVERED at the first part that failed
(with that receipt's reason); later receipts of a settled leg change nothing. Receipts may come
before ``submitted`` is told (an SMSC is fast, our thread slower): they are kept and applied then.

A receipt whose id no submit names within a few seconds (``stale_early``) was for a message sent
before our restart: the channel finds its leg in storage and ``adopt``s it. Pure and thread-safe;
time (monotonic seconds) is a parameter. ``overdue`` says whether a message has waited too long for
its receipt (the path stops reporting: the failover should move on).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from callcenter.channels.delivery import delivery_detail
from callcenter.domain.types import LegStatus
from callcenter.smpp.receipts import Receipt

__all__ = ["Ledger", "LegEntry", "Settled"]

EARLY_KEPT = 10_000  # receipts for ids not yet told, kept at most (oldest dropped)


@dataclass(frozen=True, slots=True)
class Settled:
    leg_id: str
    status: LegStatus
    detail: str
    provider_ref: str


@dataclass
class LegEntry:
    leg_id: str
    message_ids: tuple[str, ...]
    submitted_at: float
    pending: set[str] = field(default_factory=set)
    # Found in storage after our restart: which parts were delivered before it is unknown, so the
    # first final receipt of any part settles the leg.
    adopted: bool = False

    @property
    def provider_ref(self) -> str:
        return ",".join(self.message_ids)


class Ledger:
    def __init__(self) -> None:
        self._by_id: dict[str, LegEntry] = {}
        self._early: dict[str, tuple[Receipt, float]] = {}
        self._lock = threading.Lock()

    def submitted(self, leg_id: str, message_ids: tuple[str, ...], now: float) -> list[Settled]:
        """The leg's parts were accepted as ``message_ids``; returns what early receipts settle."""
        entry = LegEntry(leg_id, message_ids, now, set(message_ids))
        with self._lock:
            for message_id in message_ids:
                self._by_id[message_id] = entry
            early = [self._early.pop(m)[0] for m in message_ids if m in self._early]
        return [s for r in early if (s := self.receipt(r, now)) is not None]

    def adopt(self, leg_id: str, message_ids: tuple[str, ...], now: float) -> None:
        """A leg found in storage by one of its message ids (sent before our restart)."""
        entry = LegEntry(leg_id, message_ids, now, set(message_ids), adopted=True)
        with self._lock:
            for message_id in message_ids:
                self._by_id.setdefault(message_id, entry)

    def stale_early(self, now: float, seconds: float) -> list[Receipt]:
        """Receipts for ids no submit named within ``seconds``: sent before our restart, or not ours."""
        with self._lock:
            stale = [m for m, (_, at) in self._early.items() if now - at >= seconds]
            return [self._early.pop(m)[0] for m in stale]

    def receipt(self, receipt: Receipt, now: float) -> Settled | None:
        """Apply a final receipt; the leg's outcome when it is now settled, else None."""
        with self._lock:
            entry = self._by_id.get(receipt.message_id)
            if entry is None:
                self._keep_early(receipt, now)
                return None
            if receipt.message_id not in entry.pending:
                return None
            if not receipt.delivered:
                self._forget(entry)
                detail = delivery_detail(receipt.failure(), receipt.code())
                return Settled(entry.leg_id, LegStatus.UNDELIVERED, detail, entry.provider_ref)
            entry.pending.discard(receipt.message_id)
            if entry.pending and not entry.adopted:
                return None
            self._forget(entry)
            parts = len(entry.message_ids)
            return Settled(entry.leg_id, LegStatus.DELIVERED, f"delivered ({parts} part{'s' * (parts > 1)})",
                           entry.provider_ref)

    def knows(self, message_id: str) -> bool:
        with self._lock:
            return message_id in self._by_id

    def waiting(self) -> int:
        """Legs submitted with receipts still to come."""
        with self._lock:
            return len({id(e) for e in self._by_id.values()})

    def overdue(self, now: float, seconds: float) -> bool:
        with self._lock:
            return any(now - e.submitted_at > seconds for e in self._by_id.values())

    def expire(self, now: float, seconds: float) -> int:
        """Forget legs submitted more than ``seconds`` ago (past the providers' report window)."""
        with self._lock:
            old = {id(e): e for e in self._by_id.values() if now - e.submitted_at > seconds}
            for entry in old.values():
                self._forget(entry)
            return len(old)

    def _forget(self, entry: LegEntry) -> None:
        for message_id in entry.message_ids:
            self._by_id.pop(message_id, None)

    def _keep_early(self, receipt: Receipt, now: float) -> None:
        if len(self._early) >= EARLY_KEPT:
            del self._early[next(iter(self._early))]
        self._early[receipt.message_id] = (receipt, now)

"""Toll-fraud guard: the service only ever dials or texts numbers it knows.

Known numbers are the directory's (household emergency lines, responders' phones) plus the call
centre's configured operator phones. Every alert channel is wrapped in ``GuardedChannel`` and the
console's call-back in ``GuardedCallBack`` (both composed in ``callcenter.bootstrap``), so no path
reaches a carrier without passing ``destination_refusal``. A refused alert leg fails like any
other leg (the engine records FAILED with the reason on the timeline) and escalation goes on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Protocol

from callcenter.service.callback import CallBack, CallBackError
from callcenter.service.ports import AlertChannel, Clock, LegOrder, close_sends, is_queued
from contacts.phones import PhonePolicy, mask_phone, normalise_phone, try_normalise

__all__ = [
    "DestinationRefused", "GuardedCallBack", "GuardedChannel", "KnownNumbers", "destination_refusal",
    "operator_phone_set",
]

log = logging.getLogger(__name__)


class DestinationRefused(Exception):
    """The guard refused to dial or text a number that is neither in the directory nor an operator's."""


class NumberBook(Protocol):
    """The directory question the guard asks (``callcenter.db.directory_repo.SqlDirectory``)."""

    def is_known_number(self, number: str) -> bool: ...


def destination_refusal(canonical: str | None, operator_phone: bool, in_directory: bool) -> str | None:
    """Why a destination must not be dialled, or None when it may be. Pure: the facts come in."""
    if canonical is None:
        return "not a valid phone number"
    if operator_phone or in_directory:
        return None
    return "not in the directory nor a configured operator phone"


def operator_phone_set(phones: Iterable[str], policy: PhonePolicy) -> frozenset[str]:
    """The configured operator phones in canonical form; a malformed one stops start-up."""
    return frozenset(normalise_phone(p, policy, "guard.operator_phones") for p in phones)


class KnownNumbers:
    """Answers "may we dial this number" from the operator list and the directory.

    Only positive answers are cached (for ``ttl``): a number just added to the directory is
    allowed on the next try, while a number just removed stays allowed at most ``ttl`` longer.
    """

    def __init__(self, book: NumberBook, operator_phones: frozenset[str], policy: PhonePolicy, clock: Clock,
                 ttl: timedelta = timedelta(seconds=60), max_entries: int = 10_000) -> None:
        self._book, self._operators, self._policy, self._clock = book, operator_phones, policy, clock
        self._ttl, self._max = ttl, max_entries
        self._known: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def refusal(self, number: str) -> str | None:
        canonical = try_normalise(number, self._policy)
        if canonical is None or canonical in self._operators:
            return destination_refusal(canonical, canonical is not None, False)
        return destination_refusal(canonical, False, self._in_directory(canonical))

    def _in_directory(self, canonical: str) -> bool:
        now = self._clock.now()
        with self._lock:
            expires = self._known.get(canonical)
            if expires is not None and expires > now:
                return True
        known = self._book.is_known_number(canonical)
        if known:
            with self._lock:
                if len(self._known) >= self._max:
                    self._known.clear()  # bounded: start over rather than track ages
                self._known[canonical] = now + self._ttl
        return known


def _refuse(what: str, number: str, reason: str) -> str:
    message = f"toll-fraud guard refused {what} to {mask_phone(number)}: {reason}"
    log.warning("%s", message)
    return message


class GuardedChannel:
    """An alert channel that places only legs to known numbers; others raise DestinationRefused."""

    def __init__(self, inner: AlertChannel, refusal: Callable[[str], str | None]) -> None:
        self.inner = inner
        self.name = inner.name
        self.survives_restart = inner.survives_restart
        self._refusal = refusal

    def send(self, order: LegOrder) -> str:
        reason = self._refusal(order.recipient.phone)
        if reason is not None:
            what = f"{order.channel} leg of incident {order.incident_id}"
            raise DestinationRefused(_refuse(what, order.recipient.phone, reason))
        return self.inner.send(order)

    def is_queued(self, ref: str) -> bool:
        return is_queued(self.inner, ref)

    def close_sends(self) -> None:
        close_sends(self.inner)


class GuardedCallBack:
    """The console's call-back: rings only operator phones and bridges only known household lines."""

    def __init__(self, inner: CallBack, known: KnownNumbers) -> None:
        self.inner, self._known = inner, known

    def call_back(self, operator_phone: str, household_line: str, incident_id: str) -> str:
        if not operator_phone:
            raise CallBackError("this account has no phone to ring first")
        for what, number in (("the operator's phone", operator_phone), ("the household line", household_line)):
            reason = self._known.refusal(number)
            if reason is not None:
                raise CallBackError(_refuse(f"call-back of incident {incident_id}: {what}", number, reason))
        return self.inner.call_back(operator_phone, household_line, incident_id)

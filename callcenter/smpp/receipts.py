"""Delivery receipts: a ``deliver_sm`` with esm_class "SMSC delivery receipt", read and judged.

An SMSC names the message in the ``receipted_message_id`` TLV and its state in ``message_state``
(SMPP 3.4 §5.3.2.35); older ones only in the text, ``id:… sub:… dlvrd:… submit date:… done date:…
stat:DELIVRD err:000 text:…`` (Appendix B). Both are read, the TLVs first. ``stat``/``err`` are
mapped to the channel-neutral ``DeliveryFailure`` (callcenter.channels.delivery); ``err`` is the
network's code (GSM MAP errors on most SMSCs). Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from callcenter.channels.delivery import DeliveryFailure

__all__ = ["RECEIPT_MASK", "Receipt", "failure_of", "is_receipt", "parse_receipt"]

RECEIPT_MASK = 0x3C  # esm_class bits 2–5: message type
_RECEIPT_TYPES = (0x04, 0x08)  # SMSC delivery receipt, SME delivery acknowledgement
_FIELD = re.compile(r"(id|stat|err):(\S*)", re.IGNORECASE)

# message_state TLV values (SMPP 3.4 §5.2.28) as receipt words.
_STATES = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN",
           8: "REJECTD"}
FINAL_STATS = frozenset({"DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "REJECTD", "UNKNOWN"})

# stat words other than DELIVRD and what they mean when err says nothing more.
_STAT_FAILURES = {
    "EXPIRED": DeliveryFailure.EXPIRED,
    "DELETED": DeliveryFailure.REJECTED,
    "REJECTD": DeliveryFailure.REJECTED,
    "UNDELIV": DeliveryFailure.OTHER,
    "UNKNOWN": DeliveryFailure.UNKNOWN,
}

# err: GSM MAP error codes as most SMSCs report them (3GPP TS 29.002 §17.6), three decimal digits.
_ERR_FAILURES = {
    1: DeliveryFailure.INVALID_NUMBER,  # unknown subscriber
    5: DeliveryFailure.INVALID_NUMBER,  # unidentified subscriber
    9: DeliveryFailure.INVALID_NUMBER,  # illegal subscriber
    11: DeliveryFailure.REJECTED,  # teleservice not provisioned
    12: DeliveryFailure.INVALID_NUMBER,  # illegal equipment
    13: DeliveryFailure.BLACKLISTED,  # call barred
    21: DeliveryFailure.REJECTED,  # facility not supported
    27: DeliveryFailure.SWITCHED_OFF,  # absent subscriber
    31: DeliveryFailure.SWITCHED_OFF,  # subscriber busy for MT SMS
    32: DeliveryFailure.SWITCHED_OFF,  # SM delivery failure (memory full, equipment)
    34: DeliveryFailure.OTHER,  # system failure
    36: DeliveryFailure.OTHER,  # unexpected data value
    88: DeliveryFailure.THROTTLED,  # ESME_RTHROTTLED (0x58) passed on by a gateway as err
}


@dataclass(frozen=True, slots=True)
class Receipt:
    message_id: str
    stat: str  # DELIVRD, UNDELIV, …
    err: str  # as received, e.g. "000"

    @property
    def final(self) -> bool:
        return self.stat in FINAL_STATS

    @property
    def delivered(self) -> bool:
        return self.stat == "DELIVRD"

    def failure(self) -> DeliveryFailure:
        return failure_of(self.stat, self.err)

    def code(self) -> str:
        """The provider's own words for the leg's detail: ``UNDELIV/027``."""
        return f"{self.stat}/{self.err}" if self.err else self.stat


def is_receipt(esm_class: int) -> bool:
    return (esm_class & RECEIPT_MASK) in _RECEIPT_TYPES


def parse_receipt(short_message: bytes, receipted_message_id: str | None = None,
                  message_state: int | None = None) -> Receipt:
    """The receipt's message id, stat and err; ValueError when it names no message."""
    fields = {key.lower(): value for key, value in _FIELD.findall(short_message.decode("latin-1"))}
    message_id = receipted_message_id or fields.get("id", "")
    if not message_id:
        raise ValueError(f"a delivery receipt without a message id: {short_message[:80]!r}")
    stat = _STATES.get(message_state or 0) or fields.get("stat", "UNKNOWN").upper()
    return Receipt(message_id, stat, fields.get("err", ""))


def failure_of(stat: str, err: str) -> DeliveryFailure:
    """Why a message was not delivered, from its receipt's stat and err."""
    try:
        code = int(err, 10)
    except ValueError:
        code = 0
    return _ERR_FAILURES.get(code) or _STAT_FAILURES.get(stat.upper(), DeliveryFailure.OTHER)

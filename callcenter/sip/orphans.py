"""Alert calls a dead instance left ringing, cancelled by the instance that takes its legs over.

When an instance dies, Kamailio keeps each INVITE it sent ringing until ``fr_inv_timer`` (60 s in
production.cfg): nobody is left to CANCEL it. The neighbour's phone rings on for a call nobody
will hear; answered, it is dead air, and the survivor's new attempt finds the line busy.

A CANCEL must repeat its INVITE's Request-URI, top Via (sent-by and branch), Call-ID, From tag, To
and CSeq number (RFC 3261, section 9.1), and Kamailio matches it on the Via's branch and sent-by
and on the Call-ID. So an alert call's identifiers are derived from the instance and the leg
(``dialog_ids``), its CSeq is 1, and each instance publishes its alert socket's address with its
heartbeat: the survivor rebuilds every CANCEL without one write per call.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from callcenter.service.ports import LegRef

__all__ = ["INVITE_CSEQ", "DialogIds", "OrphanCanceller", "cancel_text", "dialog_ids"]

log = logging.getLogger(__name__)

INVITE_CSEQ = 1
BURST, BURST_PAUSE = 50, 0.01  # CANCELs sent back to back, then a pause (s): 5,000 a second at most


@dataclass(frozen=True, slots=True)
class DialogIds:
    """What identifies one alert call's INVITE, for whoever must CANCEL it."""

    call_id: str
    branch: str
    tag: str


def dialog_ids(holder: str, leg_id: str) -> DialogIds:
    """The identifiers of the INVITE ``holder`` (an instance's boot) sends for ``leg_id``: unique, as
    each leg is placed once, and the same when a survivor recomputes them."""
    digest = hashlib.sha256(f"{holder}\n{leg_id}".encode()).hexdigest()
    return DialogIds(call_id=f"{digest[:32]}@995", branch=f"z9hG4bK{digest[32:52]}", tag=digest[52:64])


def cancel_text(ids: DialogIds, sent_by: str, username: str, server: str, number: str) -> str:
    """The CANCEL of the INVITE with ``ids`` that the alert socket at ``sent_by`` (host:port) sent."""
    host = sent_by.rsplit(":", 1)[0]
    uri = f"sip:{number}@{server}"
    return (
        f"CANCEL {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {sent_by};branch={ids.branch}\r\n"
        "Max-Forwards: 70\r\n"
        f"To: <{uri}>\r\n"
        f"From: <sip:{username}@{host}>;tag={ids.tag}\r\n"
        f"Call-ID: {ids.call_id}\r\n"
        f"CSeq: {INVITE_CSEQ} CANCEL\r\n"
        "Content-Length: 0\r\n\r\n"
    )


class OrphanCanceller:
    """Sends the CANCELs for a dead instance's alert calls (legs it had in flight on ``channel``).

    A leg it never dialled, or one already answered, has no ringing transaction: Kamailio drops
    that CANCEL, so every leg in flight is cancelled, whatever its last stored status. They go out
    ``BURST`` at a time with a short pause between: the answer to a CANCEL goes to the dead instance,
    so one lost is not sent again, and a takeover after a flood has thousands of them, more than
    the proxy's receive buffer holds at once (61 of 15,541 were lost in the crash benchmark).
    """

    def __init__(self, channel: str, username: str, server: str, contact_of: Callable[[str], str | None],
                 send: Callable[[str], None], pause: Callable[[], None] = lambda: time.sleep(BURST_PAUSE)) -> None:
        self.channel, self.username, self.server = channel, username, server
        self.contact_of = contact_of  # holder → its alert socket's host:port, as it published it
        self.send, self.pause = send, pause
        self.sent = 0

    def __call__(self, refs: Sequence[LegRef]) -> None:
        by_holder: dict[str, list[LegRef]] = {}
        for ref in refs:
            if ref.provider == self.channel and ref.claimed_by and ref.phone:
                by_holder.setdefault(ref.claimed_by, []).append(ref)
        for holder, legs in by_holder.items():
            sent_by = self.contact_of(holder)
            if not sent_by:  # an instance from before contacts were published, or without SIP
                log.info("no alert socket known for %s: %d calls left to Kamailio's timer", holder, len(legs))
                continue
            for ref in legs:
                if self.sent and self.sent % BURST == 0:
                    self.pause()
                self.send(cancel_text(dialog_ids(holder, ref.leg_id), sent_by, self.username, self.server,
                                      ref.phone))
                self.sent += 1
            log.info("cancelled %d alert calls left ringing by %s", len(legs), holder)

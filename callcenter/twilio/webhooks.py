"""What Twilio's status callbacks and SMS webhooks mean to the incident engine (no HTTP here;
see router.py; voice flows are in voice.py).

Status callbacks become leg outcomes; SMS replies go to the provider-neutral reply rules
(callcenter.channels.replies), whose answer goes back as TwiML.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from callcenter.channels.ports import OutcomeSink
from callcenter.channels.replies import SmsReplies
from callcenter.domain.incident import IncidentError
from callcenter.domain.types import LegStatus
from callcenter.twilio import outcomes, twiml
from callcenter.twilio.voice import TwilioVoice

__all__ = ["TwilioWebhooks"]

log = logging.getLogger(__name__)


@dataclass
class TwilioWebhooks:
    incidents: OutcomeSink
    replies: SmsReplies
    voice: TwilioVoice

    # -- status callbacks ------------------------------------------------------------------

    def call_status(self, leg_id: str, params: Mapping[str, str]) -> None:
        self._outcome(leg_id, outcomes.call_outcome(params), params)

    def sms_status(self, leg_id: str, params: Mapping[str, str]) -> None:
        self._outcome(leg_id, outcomes.sms_outcome(params), params)

    def _outcome(self, leg_id: str, status: LegStatus | None, params: Mapping[str, str]) -> None:
        if status is None:
            return
        try:
            self.incidents.leg_outcome(leg_id, status, outcomes.detail(params), outcomes.provider_ref(params))
        except (IncidentError, LookupError) as exc:  # a callback for a leg we do not know changes nothing
            log.warning("twilio callback for leg %s not recorded: %s", leg_id, exc)

    # -- SMS replies -----------------------------------------------------------------------

    def inbound_sms(self, params: Mapping[str, str]) -> str:
        return twiml.sms_reply(self.replies.answer(params.get("From", ""), params.get("Body", "")))

"""What Twilio's status callbacks and SMS webhooks mean to the incident engine (no HTTP here;
see router.py; voice flows are in voice.py).

Status callbacks become leg outcomes; SMS replies acknowledge, decline or reach the operators as a
note, always answered with a text that names the incident.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from callcenter.domain.incident import Incident, IncidentError
from callcenter.domain.types import Actor, LegStatus
from callcenter.twilio import outcomes, twiml
from callcenter.twilio.replies import NO_OPEN_INCIDENT, OpenAlert, ReplyKind, classify, confirmation, newest
from callcenter.twilio.voice import TwilioVoice
from contacts.phones import PhonePolicy, mask_phone, try_normalise

log = logging.getLogger(__name__)



class IncidentCommands(Protocol):
    """The engine commands the webhooks use (IncidentEngine has them all)."""

    def leg_outcome(self, leg_id: str, status: LegStatus, detail: str = "", provider_ref: str = "") -> None: ...

    def add_note(self, incident_id: str, text: str, actor: Actor) -> Incident: ...

    def acknowledge_on_behalf(self, incident_id: str, recipient_key: str, actor: Actor) -> Incident: ...


class OpenAlerts(Protocol):
    def open_alerts_for(self, phone: str) -> list[OpenAlert]: ...


@dataclass
class TwilioWebhooks:
    incidents: IncidentCommands
    alerts: OpenAlerts
    voice: TwilioVoice
    zone: ZoneInfo
    phone_policy: PhonePolicy

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
        sender, body = params.get("From", ""), params.get("Body", "")
        phone = try_normalise(sender, self.phone_policy) or sender
        alerts = self.alerts.open_alerts_for(phone)
        if not alerts:
            log.warning("SMS from %s answers no open incident (%d characters, not logged)", mask_phone(phone),
                        len(body))
            return twiml.sms_reply(NO_OPEN_INCIDENT)
        chosen, kind = newest(alerts), classify(body)
        _REPLY_ACTIONS[kind](self, chosen, body)
        return twiml.sms_reply(confirmation(kind, chosen, len(alerts), self.zone))

    def _acknowledge(self, alert: OpenAlert, body: str) -> None:
        if alert.sms_leg_id is not None:
            self._outcome(alert.sms_leg_id, LegStatus.ACKNOWLEDGED, {"MessageStatus": f"reply {body.strip()}"})
        else:  # only a call reached them, or the text failed: the reply still counts
            self.incidents.acknowledge_on_behalf(alert.incident_id, alert.recipient_key,
                                                 Actor("sms-reply", alert.recipient_name))

    def _decline(self, alert: OpenAlert, body: str) -> None:
        if alert.sms_leg_id is not None:
            self._outcome(alert.sms_leg_id, LegStatus.DECLINED, {"MessageStatus": f"reply {body.strip()}"})
        else:
            self._note(alert, body)

    def _note(self, alert: OpenAlert, body: str) -> None:
        self.incidents.add_note(alert.incident_id, f"短信回复（{alert.recipient_name}）：{body}",
                                Actor("responder", alert.recipient_name))


_REPLY_ACTIONS = {
    ReplyKind.ACKNOWLEDGE: TwilioWebhooks._acknowledge,
    ReplyKind.DECLINE: TwilioWebhooks._decline,
    ReplyKind.NOTE: TwilioWebhooks._note,
}

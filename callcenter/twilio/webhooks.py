"""What Twilio's webhooks mean to the incident engine (no HTTP here; see router.py).

Status callbacks become leg outcomes; the alert call's keys acknowledge or decline; a household
calling our Twilio number opens an incident on the first request, before any prompt; SMS replies
acknowledge, decline or reach the operators as a note.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from callcenter.domain.incident import Incident, IncidentError
from callcenter.domain.types import Actor, EmergencyType, LegStatus
from callcenter.twilio import outcomes, twiml
from callcenter.twilio.channels import WebhookUrls
from callcenter.twilio.replies import NO_OPEN_INCIDENT, OpenAlert, ReplyKind, classify, confirmation, newest
from contacts.phones import PhonePolicy, mask_phone, try_normalise

log = logging.getLogger(__name__)

INBOUND_TYPES: dict[str, EmergencyType] = {
    "1": EmergencyType.FIRE, "2": EmergencyType.THEFT, "3": EmergencyType.MEDICAL, "4": EmergencyType.OTHER,
}
INBOUND_GREETING = "995已收到您的紧急求助，正在通知您的邻居和网格员。"
INBOUND_TYPE_PROMPT = "如方便，请按键说明情况：火灾按1，盗窃或闯入按2，急病或受伤按3，其他按4。"
INBOUND_TYPE_NOTED = "已记录。邻居正在赶来，请保持电话畅通。"
INBOUND_DONE = "邻居正在赶来，请保持电话畅通。"


class IncidentCommands(Protocol):
    """The engine commands the webhooks use (IncidentEngine has them all)."""

    def leg_outcome(self, leg_id: str, status: LegStatus, detail: str = "", provider_ref: str = "") -> None: ...

    def key_press(self, caller: str) -> Incident: ...

    def add_note(self, incident_id: str, text: str, actor: Actor) -> Incident: ...

    def acknowledge_on_behalf(self, incident_id: str, recipient_key: str, actor: Actor) -> Incident: ...

    def set_type(self, incident_id: str, emergency_type: EmergencyType, actor: Actor) -> Incident: ...


class OpenAlerts(Protocol):
    def open_alerts_for(self, phone: str) -> list[OpenAlert]: ...


@dataclass
class TwilioWebhooks:
    incidents: IncidentCommands
    alerts: OpenAlerts
    urls: WebhookUrls
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

    # -- the alert call --------------------------------------------------------------------

    def alert_call(self, query: Mapping[str, str], params: Mapping[str, str]) -> str:
        """First TwiML of an answered alert call. A machine hears nothing and is not counted."""
        leg_id = query["leg"]
        if outcomes.is_machine(params.get("AnsweredBy", "")):
            self._outcome(leg_id, LegStatus.ANSWERED_WITHOUT_KEY, params)
            return twiml.hangup()
        self._outcome(leg_id, LegStatus.ANSWERED, params)
        script = twiml.AlertScript(query.get("label", ""), query.get("address", ""), query.get("type", ""),
                                   datetime.fromisoformat(query["at"]))
        return twiml.alert_call(script, self.zone, self.urls.alert_key(urlencode(query)))

    def alert_key(self, query: Mapping[str, str], params: Mapping[str, str]) -> str:
        leg_id, digit = query["leg"], params.get("Digits", "")
        if digit == "1":
            self._outcome(leg_id, LegStatus.ACKNOWLEDGED, {**params, "CallStatus": "key 1"})
            return twiml.spoken_then_hangup(twiml.THANKS_COMING)
        if digit == "2":
            self._outcome(leg_id, LegStatus.DECLINED, {**params, "CallStatus": "key 2"})
            return twiml.spoken_then_hangup(twiml.THANKS_DECLINED)
        return self.alert_call(query, params)  # 0 or any other key: say it again

    # -- a household calling our number ----------------------------------------------------

    def inbound_call(self, params: Mapping[str, str]) -> str:
        """The press itself: the incident is opened before a single word is spoken."""
        incident = self.incidents.key_press(params.get("From", ""))
        log.info("incident %s opened by a Twilio call from %s", incident.id, mask_phone(params.get("From", "")))
        key_url = self.urls.inbound_key(incident.id)
        return twiml.inbound_call(INBOUND_GREETING, INBOUND_TYPE_PROMPT, key_url, INBOUND_DONE)

    def inbound_key(self, incident_id: str, params: Mapping[str, str]) -> str:
        emergency_type = INBOUND_TYPES.get(params.get("Digits", ""))
        if emergency_type is None:
            return twiml.spoken_then_hangup(INBOUND_DONE)
        try:
            self.incidents.set_type(incident_id, emergency_type, Actor("household", "twilio call"))
        except (IncidentError, LookupError) as exc:
            log.warning("type for incident %s not recorded: %s", incident_id, exc)
        return twiml.spoken_then_hangup(INBOUND_TYPE_NOTED)

    # -- SMS replies -----------------------------------------------------------------------

    def inbound_sms(self, params: Mapping[str, str]) -> str:
        sender, body = params.get("From", ""), params.get("Body", "")
        phone = try_normalise(sender, self.phone_policy) or sender
        alerts = self.alerts.open_alerts_for(phone)
        if not alerts:
            log.warning("SMS from %s answers no open incident: %r", mask_phone(phone), body[:160])
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

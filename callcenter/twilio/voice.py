"""Voice webhooks: the ``alert_outbound`` and ``emergency_inbound`` flows, one turn per request.

A household calling our Twilio number opens (or joins) its incident on the very first request,
before a word is spoken; the flow only adds to it. An alert call answered by a machine hears
nothing and counts as answered without a key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from callcenter.domain.incident import Incident, IncidentError
from callcenter.domain.types import Actor, CallerTrust, EmergencyType, LegStatus
from callcenter.ivr.caller_incidents import caller_incident
from callcenter.ivr.engine import DoAction, FlowEngine, FlowState, SetIncidentField, Turn, decode_state
from callcenter.ivr.engine_actions import HOUSEHOLD, IVR, SILENT_CALL_NOTE
from callcenter.ivr.flow import Action
from callcenter.ivr.flowfile import ALERT_FLOW, INBOUND_FLOW, FlowSet
from callcenter.ivr.handlers import base_facts
from callcenter.twilio import outcomes, twiml
from callcenter.twilio.channels import WebhookUrls
from callcenter.twilio.flows import TwimlRenderer, decode_facts, event_of, facts_after
from callcenter.twilio.recordings import RecordingKeeper
from contacts.phones import mask_phone

__all__ = ["TwilioVoice", "VoiceCommands"]

log = logging.getLogger(__name__)
_LEG_ACTIONS = {Action.ACKNOWLEDGE: (LegStatus.ACKNOWLEDGED, "key 1"), Action.DECLINE: (LegStatus.DECLINED, "key 2")}


class VoiceCommands(Protocol):
    """The engine commands voice flows use (IncidentEngine has them all)."""

    def leg_outcome(self, leg_id: str, status: LegStatus, detail: str = "", provider_ref: str = "") -> None: ...

    def key_press(self, caller: str, trust: CallerTrust) -> Incident: ...

    def add_note(self, incident_id: str, text: str, actor: Actor) -> Incident: ...

    def set_type(self, incident_id: str, emergency_type: EmergencyType, actor: Actor) -> Incident: ...

    def cancel(self, incident_id: str, actor: Actor) -> Incident: ...


@dataclass
class TwilioVoice:
    incidents: VoiceCommands
    flows: FlowSet
    urls: WebhookUrls
    renderer: TwimlRenderer
    recordings: RecordingKeeper | None = None  # downloads voice messages to our recordings store

    # -- alert calls -----------------------------------------------------------------------

    def alert_call(self, query: Mapping[str, str], params: Mapping[str, str]) -> str:
        leg_id = query["leg"]
        if outcomes.is_machine(params.get("AnsweredBy", "")):
            self._leg(leg_id, LegStatus.ANSWERED_WITHOUT_KEY, outcomes.detail(params))
            return twiml.hangup()
        self._leg(leg_id, LegStatus.ANSWERED, outcomes.detail(params), outcomes.provider_ref(params))
        facts = decode_facts(query["facts"])
        return self._turn("alert", leg_id, FlowEngine(self.flows[ALERT_FLOW]).start(facts), facts)

    def alert_next(self, query: Mapping[str, str], params: Mapping[str, str]) -> str:
        return self._next("alert", query["leg"], ALERT_FLOW, query, params)

    # -- a household calling our number ----------------------------------------------------

    def inbound_call(self, params: Mapping[str, str]) -> str:
        """The press itself: the incident is stored and alerts go out before any prompt (an unverified
        caller's wait for the operators: only a full STIR/SHAKEN attestation verifies the number)."""
        trust = outcomes.caller_trust(params)
        incident = self.incidents.key_press(params.get("From", ""), trust)
        log.info("incident %s opened by a Twilio call from %s (%s)", incident.id, mask_phone(params.get("From", "")),
                 trust)
        facts = {**base_facts(params.get("From", "")), **caller_incident(incident).facts}
        return self._turn("inbound", incident.id, FlowEngine(self.flows[INBOUND_FLOW]).start(facts), facts)

    def inbound_next(self, query: Mapping[str, str], params: Mapping[str, str]) -> str:
        if query.get("event") == "recorded" and params.get("RecordingUrl"):
            self._recorded(query["incident"], params["RecordingUrl"], params.get("RecordingDuration", ""))
        return self._next("inbound", query["incident"], INBOUND_FLOW, query, params)

    def _recorded(self, incident_id: str, url: str, duration: str) -> None:
        """Kept on our server when a keeper is wired (callcenter.twilio.recordings), else noted as its URL."""
        if self.recordings is not None:
            self.recordings.keep(incident_id, url, _seconds(duration))
            return
        self._safely(lambda: self.incidents.add_note(incident_id, f"来电录音（{duration or '?'}秒）：{url}", HOUSEHOLD))

    # -- turns -----------------------------------------------------------------------------

    def _next(self, kind: str, ref: str, flow: str, query: Mapping[str, str], params: Mapping[str, str]) -> str:
        state, facts = decode_state(query["state"]), decode_facts(query["facts"])
        turn = FlowEngine(self.flows[flow]).handle(state, event_of(query.get("event", ""), params), facts)
        return self._turn(kind, ref, turn, facts)

    def _turn(self, kind: str, ref: str, turn: Turn, facts: Mapping[str, str]) -> str:
        for command in turn.commands:
            if isinstance(command, SetIncidentField | DoAction):
                self._effect(kind, ref, command)
        after = facts_after(turn, facts)

        def next_url(state: FlowState, event: str) -> str:
            return self.urls.flow_next(kind, ref, after, state, event)
        return self.renderer.render(turn, next_url)

    def _effect(self, kind: str, ref: str, command: SetIncidentField | DoAction) -> None:
        if kind == "alert":
            if isinstance(command, DoAction) and command.action in _LEG_ACTIONS:
                self._leg(ref, *_LEG_ACTIONS[command.action])
            return
        effect = _INBOUND_EFFECTS.get(_effect_key(command))
        if effect is not None:
            self._safely(lambda: effect(self.incidents, ref, command))

    def _leg(self, leg_id: str, status: LegStatus, detail: str, provider_ref: str = "") -> None:
        self._safely(lambda: self.incidents.leg_outcome(leg_id, status, detail, provider_ref))

    def _safely(self, act: Callable[[], object]) -> None:
        try:
            act()
        except (IncidentError, LookupError, ValueError) as exc:  # a closed incident: the caller still hears the flow
            log.warning("voice flow effect not recorded: %s", exc)


def _seconds(duration: str) -> float:
    try:
        value = float(duration)
    except ValueError:
        return 0.0
    return value if 0 <= value < 24 * 3600 else 0.0


def _effect_key(command: SetIncidentField | DoAction) -> str:
    return f"set:{command.name}" if isinstance(command, SetIncidentField) else f"do:{command.action.value}"


_Effect = Callable[[VoiceCommands, str, SetIncidentField | DoAction], object]
_INBOUND_EFFECTS: dict[str, _Effect] = {
    "set:emergency_type": lambda e, i, c: e.set_type(i, EmergencyType(getattr(c, "value", "")), HOUSEHOLD),
    f"do:{Action.CANCEL_INCIDENT.value}": lambda e, i, c: e.cancel(i, HOUSEHOLD),
    f"do:{Action.NOTE_SILENT_CALL.value}": lambda e, i, c: e.add_note(i, SILENT_CALL_NOTE, IVR),
}

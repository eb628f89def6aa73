"""The two call handlers a channel runs: a household's 995 call and an answered alert leg.

The composition root builds them once (``inbound_handler``, ``alert_handler``) and hands them to the
call channel, which calls them on its own thread per call with the call's ``CallMedia``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from callcenter.domain.types import EMERGENCY_TYPE_LABELS, EmergencyType, LegStatus
from callcenter.ivr.engine import SPOKEN_TYPES, Digits, DoAction, FlowEngine, FlowState, Say, Turn
from callcenter.ivr.flow import Action
from callcenter.ivr.flowfile import ALERT_FLOW, INBOUND_FLOW, FlowSet
from callcenter.ivr.media import AnsweredLegHandler, CallMedia, InboundCallHandler, LegDecided
from callcenter.ivr.ports import CallerIncident, IncidentActions, IncidentLookup, PromptAudio
from callcenter.ivr.runner import FlowRunner
from callcenter.service.ports import LegOrder

__all__ = ["alert_handler", "base_facts", "inbound_handler", "leg_facts", "warm_alert_audio"]

log = logging.getLogger(__name__)

_TYPE_BY_LABEL = {label: kind for kind, label in EMERGENCY_TYPE_LABELS.items()}
_OUTCOMES = {Action.ACKNOWLEDGE.value: LegStatus.ACKNOWLEDGED, Action.DECLINE.value: LegStatus.DECLINED}

@dataclass(frozen=True, slots=True)
class LegOutcome:
    status: LegStatus  # ACKNOWLEDGED, DECLINED or ANSWERED_WITHOUT_KEY
    detail: str


def base_facts(caller: str) -> dict[str, str]:
    """Facts every call has, before the incident or leg adds its own."""
    return {"label": "", "address": "", "caller": caller, "recipient": "",
            "emergency_type": EmergencyType.UNKNOWN.value, "type": SPOKEN_TYPES[EmergencyType.UNKNOWN]}


def leg_facts(order: LegOrder) -> dict[str, str]:
    """What an alert call says: the household, where, and the type (its code picks the wording)."""
    kind = _TYPE_BY_LABEL.get(order.facts.emergency_type, EmergencyType.OTHER)
    return {**base_facts(order.facts.caller), "label": order.facts.label, "address": order.facts.address,
            "type": SPOKEN_TYPES[kind], "emergency_type": kind.value, "recipient": order.recipient.name}


def leg_outcome(state: FlowState, far_end_hung_up: bool) -> LegOutcome:
    status = _OUTCOMES.get(state.outcome)
    if status is not None:
        return LegOutcome(status, f"pressed {'1' if status is LegStatus.ACKNOWLEDGED else '2'}")
    detail = "hung up before a key" if far_end_hung_up else "no key after the repetitions"
    return LegOutcome(LegStatus.ANSWERED_WITHOUT_KEY, detail)


def inbound_handler(engine_actions: IncidentActions, incident_lookup: IncidentLookup, prompts: PromptAudio,
                    flows: FlowSet, record_max_seconds: float | None = None) -> InboundCallHandler:
    flow = flows[INBOUND_FLOW]

    def handle(media: CallMedia) -> None:
        found = _find_incident(incident_lookup, media.remote_number)
        effects = _IncidentEffects(engine_actions, found.incident_id if found else None)
        facts = {**base_facts(media.remote_number), **(found.facts if found else {})}
        FlowRunner(flow, media, prompts, effects, record_max_seconds).run(facts)

    return handle


def alert_handler(prompts: PromptAudio, flows: FlowSet) -> AnsweredLegHandler:
    """The alert flow on an answered leg: 1 or 2 is told to ``decided`` at the key press, before the
    confirmation is spoken; the call's end only decides a leg no key decided."""
    flow = flows[ALERT_FLOW]

    def handle(order: LegOrder, media: CallMedia, decided: LegDecided) -> LegStatus:
        effects = _LegEffects(order, decided)
        result = FlowRunner(flow, media, prompts, effects).run(leg_facts(order))
        outcome = leg_outcome(result.state, result.far_end_hung_up)
        log.info("leg %s: %s (%s)", order.leg_id, outcome.status, outcome.detail)
        return outcome.status

    return handle


def warm_alert_audio(prompts: PromptAudio, flows: FlowSet, order: LegOrder) -> int:
    """Render what an alert leg says first, so the responder does not wait for synthesis after answering.

    A channel may call this when it accepts the leg, before dialling; the announcement is the same for
    every leg of an incident, so the first call renders it and the others find it cached. Returns how
    many texts were prepared.
    """
    engine, facts = FlowEngine(flows[ALERT_FLOW]), leg_facts(order)
    first = engine.start(facts)
    turns = [first, *_acknowledging(engine, first.state, facts)]  # its confirmation names the address too
    says = [command for turn in turns for command in turn.commands if isinstance(command, Say)]
    for say in says:
        prompts.audio(say)
    return len(says)


def _acknowledging(engine: FlowEngine, state: FlowState, facts: Mapping[str, str]) -> list[Turn]:
    """The turn a key that acknowledges plays (whichever key the flow file gives it), if any does."""
    for key in "0123456789*#":
        turn = engine.handle(state, Digits(key), facts)
        if DoAction(Action.ACKNOWLEDGE) in turn.commands:
            return [turn]
    return []


def _find_incident(lookup: IncidentLookup, number: str) -> CallerIncident | None:
    """The caller's open incident; the call goes on without one rather than going silent."""
    try:
        found = lookup(number)
    except Exception:
        log.exception("inbound call: incident lookup failed; running the flow without an incident")
        return None
    if found is None:
        log.error("inbound call: no open incident for the caller; running the flow without one")
    return found


class _IncidentEffects:
    def __init__(self, actions: IncidentActions, incident_id: str | None) -> None:
        self.actions, self.incident_id = actions, incident_id

    def set_field(self, name: str, value: str) -> None:
        if self._bound() and name == "emergency_type":
            self.actions.set_type(self._id, EmergencyType(value))

    def action(self, action: Action) -> None:
        handlers: Mapping[Action, Callable[[str], None]] = {
            Action.CANCEL_INCIDENT: self.actions.cancel, Action.NOTE_SILENT_CALL: self.actions.note_silent_call,
        }
        if self._bound() and action in handlers:
            handlers[action](self._id)

    def recording(self, audio: bytes, seconds: float) -> None:
        if self._bound():
            self.actions.attach_voice_message(self._id, audio, seconds)

    @property
    def _id(self) -> str:
        assert self.incident_id is not None
        return self.incident_id

    def _bound(self) -> bool:
        if self.incident_id is None:
            log.error("inbound call: flow effect dropped, the call has no incident")
        return self.incident_id is not None


class _LegEffects:
    """The flow's acknowledge/decline actions, told to the channel the moment the flow takes them."""

    def __init__(self, order: LegOrder, decided: LegDecided) -> None:
        self.order, self.decided = order, decided

    def set_field(self, name: str, value: str) -> None:
        log.warning("leg %s: an alert flow cannot set incident fields", self.order.leg_id)

    def action(self, action: Action) -> None:
        status = _OUTCOMES.get(action.value)
        if status is not None:
            self.decided(status, f"pressed {'1' if status is LegStatus.ACKNOWLEDGED else '2'}")

    def recording(self, audio: bytes, seconds: float) -> None:
        log.info("leg %s: a recording on an alert call is not kept", self.order.leg_id)

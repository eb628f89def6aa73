"""Drive the pure flow engine over a live call: execute its commands, turn what happens into events.

The runner is the only place where a flow meets a channel. It never lets a failure elsewhere end an
emergency call early: a prompt that cannot be synthesised is replaced by a short tone, an incident
command that fails is logged and the flow goes on, and a far-end hang-up simply ends the flow.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from callcenter.ivr.audio import SAMPLE_RATE, tone
from callcenter.ivr.engine import (
    CollectDigits,
    Command,
    Digits,
    DoAction,
    EndCall,
    Event,
    FlowEngine,
    FlowState,
    HungUp,
    RecordingDone,
    Say,
    SetIncidentField,
    StartRecording,
    TimedOut,
    Turn,
    apply_field,
)
from callcenter.ivr.flow import Action, Flow
from callcenter.ivr.media import CallEnded, CallMedia
from callcenter.ivr.ports import PromptAudio

__all__ = ["FlowRunner"]

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1  # how often a playing prompt is checked for a key (barge-in)
PLAYBACK_SLACK_SECONDS = 5.0  # a channel may start audio late; beyond this we stop waiting for it
MAX_TURNS = 1000  # every flow loop is bounded by repeat steps; this guards against a channel gone mad


class FlowEffects(Protocol):
    """What a flow's side effects mean for this call (bound to its incident or alert leg)."""

    def set_field(self, name: str, value: str) -> None: ...

    def action(self, action: Action) -> None: ...

    def recording(self, audio: bytes, seconds: float) -> None: ...


@dataclass
class FlowResult:
    state: FlowState
    facts: Mapping[str, str]
    far_end_hung_up: bool


class FlowRunner:
    def __init__(self, flow: Flow, media: CallMedia, prompts: PromptAudio, effects: FlowEffects,
                 record_max_seconds: float | None = None) -> None:
        self.engine = FlowEngine(flow)
        self.media, self.prompts, self.effects = media, prompts, effects
        self.record_max_seconds = record_max_seconds  # the site's cap over every record step
        self._queued_seconds = 0.0
        self._hung_up = False

    def run(self, facts: Mapping[str, str]) -> FlowResult:
        """Run the flow until it ends or the call does; returns the final state."""
        self.facts = dict(facts)
        turn = self._safe(partial(self.engine.start, self.facts))
        for _ in range(MAX_TURNS):
            event = self._execute(turn.commands)  # the last turn's commands too: its action, its goodbye
            if turn.state.done:
                break
            turn = self._safe(partial(self.engine.handle, turn.state, event, self.facts))
        else:
            log.error("flow %s: stopped after %d turns", self.engine.flow.name, MAX_TURNS)
        self._end()
        return FlowResult(turn.state, self.facts, self._hung_up)

    def _safe(self, step: Callable[[], Turn]) -> Turn:
        try:
            return step()
        except Exception:  # FlowRuntimeError or a defect: end this call cleanly, never kill the channel's thread
            log.exception("flow %s: broken flow, ending the call", self.engine.flow.name)
            return Turn(FlowState(step="", done=True), ())

    def _end(self) -> None:
        with contextlib.suppress(CallEnded):
            self.media.hang_up()

    def _execute(self, commands: tuple[Command, ...]) -> Event:
        """Carry out one turn's commands; the event that ends the turn."""
        self._queued_seconds = 0.0
        try:
            for command in commands:
                event = self._command(command)
                if event is not None:
                    return event
        except CallEnded:
            self._hung_up = True
            return HungUp()
        return HungUp()  # a turn that does not wait ends the call

    def _command(self, command: Command) -> Event | None:
        if isinstance(command, Say):
            self._say(command)
        elif isinstance(command, CollectDigits):
            return self._collect(command)
        elif isinstance(command, StartRecording):
            return self._record(command)
        elif isinstance(command, SetIncidentField):
            self.facts = apply_field(self.facts, command.name, command.value)
            self._effect(lambda: self.effects.set_field(command.name, command.value))
        elif isinstance(command, DoAction):
            self._effect(lambda: self.effects.action(command.action))
        elif isinstance(command, EndCall):
            self._drain_playback()
            return HungUp()
        return None

    def _say(self, say: Say) -> None:
        try:
            audio = self.prompts.audio(say)
        except Exception:  # SpeechError, a full disk under the cache, ...: the caller still hears something
            # The prompt id, never the text: a rendered announcement names the household and its address.
            log.exception("flow %s: cannot speak %s; playing a tone instead", self.engine.flow.name,
                          say.prompt or "a rendered announcement")
            audio = tone(say.text)
        self.media.play(audio)
        self._queued_seconds += len(audio) / SAMPLE_RATE

    def _collect(self, collect: CollectDigits) -> Event:
        digits = self._key_during_playback() or ""
        while len(digits) < collect.count:
            key = self.media.next_digit(collect.timeout)
            if key is None:
                return Digits(digits) if digits else TimedOut()
            digits += key
        return Digits(digits)

    def _key_during_playback(self) -> str | None:
        """Wait for queued speech to end; a key pressed meanwhile interrupts it (barge-in) and is returned."""
        polls = round((self._queued_seconds + PLAYBACK_SLACK_SECONDS) / POLL_SECONDS)
        for _ in range(polls):
            if not self.media.is_playing():
                return None
            key = self.media.next_digit(POLL_SECONDS)
            if key is not None:
                self.media.stop_playback()
                return key
        return None

    def _drain_playback(self) -> None:
        """Let the last words (a confirmation, a goodbye) finish before hanging up; keys change nothing now."""
        polls = round((self._queued_seconds + PLAYBACK_SLACK_SECONDS) / POLL_SECONDS)
        for _ in range(polls):
            if not self.media.is_playing():
                return
            self.media.next_digit(POLL_SECONDS)

    def _record(self, start: StartRecording) -> Event:
        key = self._key_during_playback()
        if key is not None:
            log.info("flow %s: key %s pressed during the prompt before a recording", self.engine.flow.name, key)
        limit = min(start.max_seconds, self.record_max_seconds or start.max_seconds)
        audio = self.media.record(limit, start.stop_digits)
        seconds = len(audio) / SAMPLE_RATE
        if audio:
            self._effect(lambda: self.effects.recording(audio, seconds))
        return RecordingDone(seconds)

    def _effect(self, run: Callable[[], None]) -> None:
        """An incident command; its failure is logged, never allowed to end the caller's call."""
        try:
            run()
        except Exception:
            log.exception("flow %s: an incident command failed; the call goes on", self.engine.flow.name)

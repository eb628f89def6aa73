"""What a channel package builds for the composition root, and what it is given to build it.

Each channel package (callcenter/sip, callcenter/twilio, the simulated phones in
callcenter/channels/simulated.py) exposes one builder: a ``ChannelPackage`` subclass constructed
from a ``ChannelContext``. The composition root (callcenter.bootstrap) keeps a registry from kind
(the name ``engine.call_channel`` / ``engine.sms_channel`` use) to builder and asks it for:

- ``channels()``: the alert channels this package carries, by leg kind, as the settings name it;
- ``backups()``: failover paths it offers behind another package's path (Twilio behind SIP);
- ``start()`` / ``stop()``: its lifecycle, run by the engine runtime (start before the engine's,
  stop after dispatching stopped and before the engine's);
- ``probes()`` and ``routers()``: its ``/health`` probes and HTTP routes (webhooks);
- ``call_back()``: the operators' click-to-call, when it carries the alert calls;
- ``orphans()`` and ``contact()``: how a survivor cancels the calls this process left ringing.

Constructing a package does nothing; each part is built the first time it is asked for, so that
``/health`` or the console never build a phone that the engine runtime did not.

The context's ``engine`` is the one late binding: the engine needs the channels (to send legs)
and the channels need the engine (to open an incident on a 995 call, store a key pressed in a
call, answer a webhook). A package calls it only when a call, a webhook or a click arrives, never
while building.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar, Protocol

from callcenter.channels.failover import TimelineNotes
from callcenter.channels.ports import AlertChannel, FailoverPath, OutcomeSink
from callcenter.domain.types import Actor, Channel, LegStatus
from callcenter.service.callback import CallBack

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from fastapi import APIRouter

    from callcenter.adapters.health import HealthProbe
    from callcenter.channels.routes import ChannelRoutes
    from callcenter.db.incident_repo import SqlIncidentStore
    from callcenter.ivr.caller_incidents import CallerIncidents
    from callcenter.ivr.flowfile import FlowSet
    from callcenter.ivr.media import AnsweredLegHandler
    from callcenter.ivr.prompts import PromptLibrary
    from callcenter.ivr.warmer import AnnouncementWarmer
    from callcenter.service.engine import IncidentEngine
    from callcenter.service.ports import LegRef
    from callcenter.settings import Settings

__all__ = [
    "ChannelBuilder", "ChannelContext", "ChannelPackage", "LateNotes", "LateSink", "Trunk", "TrunkQueue", "Voice",
]


class Voice(Protocol):
    """The voice parts shared by every voice channel (callcenter/ivr), built once by the composition root."""

    @property
    def ivr_flows(self) -> FlowSet: ...
    @property
    def prompt_library(self) -> PromptLibrary: ...
    @property
    def alert_leg_handler(self) -> AnsweredLegHandler: ...
    @property
    def announcement_warmer(self) -> AnnouncementWarmer: ...
    @property
    def caller_incidents(self) -> CallerIncidents: ...


class TrunkQueue(Protocol):
    def __len__(self) -> int: ...
    def waiting_incidents(self) -> int: ...


class Trunk(Protocol):
    """A channel with a fixed number of lines and a queue for them (the SIP trunk), as the flood banner reads it."""

    @property
    def active_calls(self) -> int: ...
    @property
    def max_channels(self) -> int: ...
    @property
    def queue(self) -> TrunkQueue: ...


class ChannelContext:
    """What every builder gets. ``engine`` resolves the incident engine late (see the module docstring);
    ``routes`` (config/channels.yaml) and ``zone`` are read when first asked for, by the packages that use them."""

    def __init__(self, settings: Settings, store: Callable[[], SqlIncidentStore], holder: str,
                 outcomes: OutcomeSink, routes: Callable[[], ChannelRoutes], voice: Voice,
                 zone: Callable[[], ZoneInfo], engine: Callable[[], IncidentEngine]) -> None:
        self.settings, self.holder, self.outcomes = settings, holder, outcomes
        self.routes, self.voice, self.zone, self.engine = routes, voice, zone, engine
        self._store = store
        self.notes = LateNotes(engine)  # failover switches, on the incident's timeline

    @property
    def store(self) -> SqlIncidentStore:
        """Read when a part is built, not with the package: the console's app (its channel routes)
        is made before the database is touched, and /health must answer 503 when it is unreachable."""
        return self._store()


class ChannelPackage:
    """One channel package's parts; every part defaults to none, so a builder names only what it has."""

    # Whether config/channels.yaml may name this package as a failover path.
    routable: ClassVar[bool] = False
    # Whether its channel goes behind a failover channel even with no other package's path behind it, so
    # that config/channels.yaml routes it (no SMS to a landline) and its health is watched (Aliyun, Tencent).
    routed_alone: ClassVar[bool] = False

    def __init__(self, context: ChannelContext) -> None:
        self.context = context

    def channels(self) -> Mapping[Channel, AlertChannel]:
        return {}

    def backups(self) -> Mapping[Channel, FailoverPath]:
        return {}

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def probes(self) -> list[HealthProbe]:
        return []

    def routers(self) -> list[APIRouter]:
        return []

    def call_back(self) -> CallBack | None:
        return None

    def orphans(self, provider: str) -> Callable[[Sequence[LegRef]], None] | None:
        return None

    def contact(self) -> str | None:
        return None

    def trunk(self) -> Trunk | None:
        """The trunk the flood banner shows, if this package built one (never builds it)."""
        return None


ChannelBuilder = Callable[[ChannelContext], ChannelPackage]


class LateNotes:
    """Timeline notes (a failover switch) written through the late engine."""

    def __init__(self, engine: Callable[[], TimelineNotes]) -> None:
        self._engine = engine

    def add_note(self, incident_id: str, text: str, actor: Actor) -> object:
        return self._engine().add_note(incident_id, text, actor)


class LateSink:
    """The outcome sink for channels built before it: the engine runtime's leg reports, once it exists."""

    def __init__(self, sink: Callable[[], OutcomeSink]) -> None:
        self._sink = sink

    def leg_outcome(self, leg_id: str, status: LegStatus, detail: str = "", provider_ref: str = "") -> None:
        self._sink().leg_outcome(leg_id, status, detail, provider_ref)

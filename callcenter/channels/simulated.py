"""The simulated phones' builders: scripted recipients for the demo and tests ("simulated"), and the
same recipients logging each placement to ``engine.placement_log`` ("recording").

They sit here rather than in callcenter/adapters (where the phones themselves live) because a builder
returns a ``ChannelPackage``, which adapters, a layer below, cannot import.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import ClassVar

from callcenter.adapters.recording import PlacementLog, recording_phones
from callcenter.adapters.simulated import SimulatedPhones
from callcenter.channels.builder import ChannelPackage
from callcenter.channels.ports import AlertChannel
from callcenter.domain.types import Channel
from callcenter.service.callback import CallBack, SimulatedCallBack

__all__ = ["RecordingChannels", "SimulatedChannels"]

_NAMES = {Channel.CALL: "simulated", Channel.SMS: "simulated-sms"}


class SimulatedChannels(ChannelPackage):
    kind: ClassVar[str] = "simulated"

    def _kinds(self) -> list[Channel]:
        engine = self.context.settings.engine
        chosen = {Channel.CALL: engine.call_channel, Channel.SMS: engine.sms_channel}
        return [channel for channel, kind in chosen.items() if kind == self.kind]

    def channels(self) -> Mapping[Channel, AlertChannel]:
        return {channel: self._phones(channel) for channel in self._kinds()}

    def _phones(self, channel: Channel) -> SimulatedPhones:
        scale = self.context.settings.engine.simulated_time_scale
        return SimulatedPhones(channel, name=_NAMES[channel], time_scale=scale, sink=self.context.outcomes)

    def call_back(self) -> CallBack | None:
        return SimulatedCallBack() if Channel.CALL in self._kinds() else None  # the demo


class RecordingChannels(SimulatedChannels):
    kind: ClassVar[str] = "recording"

    @cached_property
    def log(self) -> PlacementLog:
        path = self.context.settings.engine.placement_log
        assert path is not None  # the settings refuse "recording" without it
        return PlacementLog(path)

    def _phones(self, channel: Channel) -> SimulatedPhones:
        return recording_phones(channel, self.log, self.context.settings.engine.simulated_time_scale,
                                sink=self.context.outcomes)

"""The channel-selection policy (``config/channels.yaml``): which path carries which leg.

For each leg channel (call, sms) and kind of number (mobile, landline, extension) an ordered list
of paths: the first healthy one is used, the others take over when it fails. An empty list means
that kind of number cannot get that channel (a landline takes no SMS). Errors name file:line.

Paths are names only: the composition root says which names it can build (``known_paths``), so this
module knows no provider.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from callcenter.domain.types import Channel
from callcenter.yamlfile import LocatedYaml, load_located

__all__ = ["ChannelRoutes", "PhoneKind", "load_routes", "phone_kind"]

_MOBILE = re.compile(r"^\+861[3-9]\d{9}$")


class PhoneKind(StrEnum):
    MOBILE = "mobile"
    LANDLINE = "landline"
    EXTENSION = "extension"


def phone_kind(phone: str) -> PhoneKind:
    """Kind of a canonical number: bare digits are PBX extensions, +861[3-9]… mobiles."""
    if not phone.startswith("+"):
        return PhoneKind.EXTENSION
    return PhoneKind.MOBILE if _MOBILE.match(phone) else PhoneKind.LANDLINE


RouteTable = dict[tuple[Channel, PhoneKind], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class ChannelRoutes:
    routes: Mapping[tuple[Channel, PhoneKind], tuple[str, ...]]
    health_check_seconds: float = 1.0
    recheck_seconds: float = 30.0  # a path that failed a send gets legs again after this long

    def paths_for(self, channel: Channel, phone: str) -> tuple[str, ...]:
        return self.routes.get((channel, phone_kind(phone)), ())


def load_routes(file: Path, known_paths: Collection[str]) -> ChannelRoutes:
    """The policy in ``file``; every path it lists must be one of ``known_paths``."""
    located = load_located(file)
    data = located.data
    if not isinstance(data, Mapping):
        raise located.error((), "must be a mapping with 'call' and/or 'sms'")
    allowed = {c.value for c in Channel} | {"health_check_seconds", "recheck_seconds"}
    for key in data:
        if key not in allowed:
            raise located.error((key,), f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")
    routes: RouteTable = {}
    for channel in Channel:
        if channel.value in data:
            routes.update(_channel_routes(located, channel, data[channel.value], known_paths))
    return ChannelRoutes(routes, _seconds(located, data, "health_check_seconds", 1.0, 10.0),
                         _seconds(located, data, "recheck_seconds", 30.0, 3600.0))


def _channel_routes(located: LocatedYaml, channel: Channel, section: Any, known: Collection[str]) -> RouteTable:
    if not isinstance(section, Mapping):
        raise located.error((channel.value,), f"{channel.value} must map number kinds (mobile, landline, "
                                              "extension) to lists of paths")
    found: RouteTable = {}
    for kind, paths in section.items():
        where = (channel.value, kind)
        if kind not in {k.value for k in PhoneKind}:
            raise located.error(where, f"unknown number kind {kind!r} (mobile, landline, extension)")
        found[(channel, PhoneKind(kind))] = _paths(located, where, paths, known)
    return found


def _paths(located: LocatedYaml, where: tuple[str, ...], paths: Any, known: Collection[str]) -> tuple[str, ...]:
    if not isinstance(paths, list):
        raise located.error(where, "must be a list of paths, e.g. [sip, twilio]")
    for index, name in enumerate(paths):
        if not isinstance(name, str) or name not in known:
            raise located.error((*where, index), f"unknown path {name!r} (known: {', '.join(sorted(known))})")
    if len(set(paths)) != len(paths):
        raise located.error(where, "a path is listed twice")
    return tuple(paths)


def _seconds(located: LocatedYaml, data: Mapping[str, Any], key: str, default: float, most: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.1 <= value <= most:
        raise located.error((key,), f"{key} must be a number of seconds from 0.1 to {most:g}")
    return float(value)

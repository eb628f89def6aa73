"""The channel-selection policy (``config/channels.yaml``): which path carries which leg.

For each leg channel (call, sms) and kind of number (mobile, landline, extension) an ordered list
of paths: the first healthy one is used, the others take over when it fails. An empty list means
that kind of number cannot get that channel (a landline takes no SMS). A channel's ``purposes``
section may give one message kind (alert, help_coming, cancellation, summary) its own chain, e.g.
alerts through Aliyun → Tencent → SMPP → Twilio; kinds of number it does not list keep the
channel's chain. Errors name file:line.

Paths are names only: the composition root says which names it can build (``known_paths``), so this
module knows no provider.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from callcenter.domain.types import Channel, LegPurpose
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
PurposeTable = dict[tuple[Channel, PhoneKind, LegPurpose], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class ChannelRoutes:
    routes: Mapping[tuple[Channel, PhoneKind], tuple[str, ...]]
    health_check_seconds: float = 1.0
    recheck_seconds: float = 30.0  # a path that failed a send gets legs again after this long
    by_purpose: Mapping[tuple[Channel, PhoneKind, LegPurpose], tuple[str, ...]] = field(default_factory=dict)

    def paths_for(self, channel: Channel, phone: str, purpose: LegPurpose | None = None) -> tuple[str, ...]:
        kind = phone_kind(phone)
        if purpose is not None and (channel, kind, purpose) in self.by_purpose:
            return self.by_purpose[(channel, kind, purpose)]
        return self.routes.get((channel, kind), ())


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
    by_purpose: PurposeTable = {}
    for channel in Channel:
        if channel.value in data:
            section = data[channel.value]
            purposes = section.get("purposes", {}) if isinstance(section, Mapping) else {}
            plain = {k: v for k, v in section.items() if k != "purposes"} if isinstance(section, Mapping) else section
            routes.update(_channel_routes(located, channel, plain, known_paths, (channel.value,)))
            by_purpose.update(_purpose_routes(located, channel, purposes, known_paths))
    return ChannelRoutes(routes, _seconds(located, data, "health_check_seconds", 1.0, 10.0),
                         _seconds(located, data, "recheck_seconds", 30.0, 3600.0), by_purpose)


def _purpose_routes(located: LocatedYaml, channel: Channel, purposes: Any, known: Collection[str]) -> PurposeTable:
    where: tuple[str, ...] = (channel.value, "purposes")
    if not isinstance(purposes, Mapping):
        raise located.error(where, "purposes must map message kinds (alert, help_coming, cancellation, summary) "
                                   "to number kinds and paths")
    found: PurposeTable = {}
    for purpose, section in purposes.items():
        if purpose not in {p.value for p in LegPurpose}:
            raise located.error((*where, purpose), f"unknown message kind {purpose!r} "
                                                   f"({', '.join(p.value for p in LegPurpose)})")
        for (_, kind), paths in _channel_routes(located, channel, section, known, (*where, purpose)).items():
            found[(channel, kind, LegPurpose(purpose))] = paths
    return found


def _channel_routes(located: LocatedYaml, channel: Channel, section: Any, known: Collection[str],
                    at: tuple[str, ...]) -> RouteTable:
    if not isinstance(section, Mapping):
        raise located.error(at, f"{'.'.join(at)} must map number kinds (mobile, landline, "
                                "extension) to lists of paths")
    found: RouteTable = {}
    for kind, paths in section.items():
        where = (*at, kind)
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

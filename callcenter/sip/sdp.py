"""SDP offer/answer rules (RFC 3264) for our G.711 phone: pure functions over pyVoIP's parsed bodies.

- ``offer_media``: what our INVITEs offer: every audio codec we support in the configured order
  (``sip.codecs``, A-law first by default), then telephone-event (RFC 4733) on 101.
- ``audio_codec``: the codec a call sends with: the first G.711 codec the far end's SDP lists (its
  preference among what we offered; for an inbound call, among what it offered).
- ``answer_direction``: the direction attribute answering an offer's (RFC 3264 section 6.1): sendonly
  is answered recvonly, recvonly sendonly, inactive inactive, sendrecv (or none) sendrecv.
- ``we_send``: whether media may flow from us under the far end's direction (section 8.4: held).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyVoIP.VoIP  # noqa: F401  (pyVoIP must be imported through pyVoIP.VoIP first)
from pyVoIP.RTP import PayloadType, TransmitType

__all__ = [
    "AUDIO_CODECS",
    "DEFAULT_CODECS",
    "EVENT_PAYLOAD",
    "G711",
    "REFUSAL_MEMORY_SECONDS",
    "NoCommonCodec",
    "OfferRefused",
    "RefusedOffers",
    "answer_assoc",
    "answer_direction",
    "audio_codec",
    "codec_list",
    "direction_of",
    "offer_media",
    "offer_names",
    "refusal_detail",
    "rtcp_port",
    "we_send",
]

AUDIO_CODECS: dict[str, PayloadType] = {"PCMA": PayloadType.PCMA, "PCMU": PayloadType.PCMU}
G711 = frozenset(AUDIO_CODECS.values())
EVENT_PAYLOAD = 101  # telephone-event: RFC 2833/4733 key presses
DEFAULT_CODECS = ("PCMA", "PCMU")  # mainland China's network is A-law; µ-law still accepted

_ANSWERS = {
    TransmitType.SENDONLY: TransmitType.RECVONLY,
    TransmitType.RECVONLY: TransmitType.SENDONLY,
    TransmitType.INACTIVE: TransmitType.INACTIVE,
    TransmitType.SENDRECV: TransmitType.SENDRECV,
}


class NoCommonCodec(ValueError):
    """The far end's SDP names none of the audio codecs we can send (an answer we cannot use)."""


def codec_list(names: Sequence[str]) -> tuple[PayloadType, ...]:
    """``sip.codecs`` as payload types, in order, each once."""
    return tuple(dict.fromkeys(AUDIO_CODECS[name] for name in names))


def offer_media(port: int, codecs: Sequence[PayloadType]) -> dict[int, dict[str, PayloadType]]:
    """pyVoIP's media map for an INVITE: ``m=audio <port> RTP/AVP 8 0 101``."""
    offered: dict[str, PayloadType] = {str(int(codec)): codec for codec in codecs}
    offered[str(EVENT_PAYLOAD)] = PayloadType.EVENT
    return {port: offered}


def offer_names(codecs: Sequence[PayloadType]) -> str:
    return ", ".join(str(codec) for codec in codecs) + ", telephone-event"


def audio_codec(assoc: Mapping[int, PayloadType]) -> PayloadType:
    """The first G.711 codec in the far end's list; NoCommonCodec when it names none."""
    for payload in assoc.values():
        if payload in G711:
            return payload
    raise NoCommonCodec("the SDP names neither PCMA nor PCMU")


def answer_assoc(media: Mapping[str, Any], offered: Sequence[PayloadType]) -> dict[int, PayloadType]:
    """The payload types of an answer's audio stream we understand, in its order: G.711 that we
    offered (by static number or by rtpmap name) and telephone-event. Anything else is ignored."""
    allowed = set(offered) | {PayloadType.EVENT}
    assoc: dict[int, PayloadType] = {}
    for number in media.get("methods", []):
        payload = _payload(number, media.get("attributes", {}).get(number, {}))
        if payload is not None and payload in allowed:
            assoc[int(number)] = payload
    return assoc


_STATIC = {"0": PayloadType.PCMU, "8": PayloadType.PCMA, str(EVENT_PAYLOAD): PayloadType.EVENT}
_NAMED = {str(payload).lower(): payload for payload in _STATIC.values()}


def _payload(number: str, attributes: Mapping[str, Any]) -> PayloadType | None:
    """By the rtpmap's name when there is one, else by the number (static, or the 101 we offered)."""
    name = str(attributes.get("rtpmap", {}).get("name", "")).lower()
    return _NAMED.get(name) if name else _STATIC.get(number)


def direction_of(body: Mapping[str, Any]) -> TransmitType:
    """The offer's or answer's direction attribute (sendrecv when it has none)."""
    found = (body.get("a") or {}).get("transmit_type")
    return found if isinstance(found, TransmitType) else TransmitType.SENDRECV


def answer_direction(offered: TransmitType) -> TransmitType:
    return _ANSWERS[offered]


def we_send(remote: TransmitType) -> bool:
    """Whether we may send media when the far end's SDP says ``remote`` (it receives)."""
    return remote in (TransmitType.SENDRECV, TransmitType.RECVONLY)


def rtcp_port(body: Mapping[str, Any], rtp_port: int) -> int:
    """Where the far end takes RTCP: ``a=rtcp:<port>`` (RFC 3605) or the RTP port + 1 (RFC 3550)."""
    value = (body.get("a") or {}).get("rtcp")
    if value:
        head = str(value).split()[0]
        if head.isdigit() and 0 < int(head) < 65536:
            return int(head)
    return rtp_port + 1


# -- 488: an offer a phone refused is not sent to it again ---------------------------------------

REFUSAL_MEMORY_SECONDS = 3600.0  # a phone reconfigured within the hour is still reached by SMS


class OfferRefused(Exception):
    """This number's phone answered this very offer 488 lately: dialling it again would ring nobody."""


def refusal_detail(phrase: str, codecs: Sequence[PayloadType]) -> str:
    return (f"{phrase or 'Not Acceptable Here'}: the phone accepts none of the codecs offered "
            f"({offer_names(codecs)}); not redialled with the same offer")


class RefusedOffers:
    """Numbers whose phone refused our offer (488, or an answer naming none of our codecs), with when.

    Our INVITE already offers every codec we support, so no different offer exists: a redial of the
    same number would get the same 488 (the issue's PCMA-only phone was redialled every 30 s for
    ever). ``check`` refuses such a redial at once, for REFUSAL_MEMORY_SECONDS; ``now`` is monotonic.
    """

    def __init__(self, memory: float = REFUSAL_MEMORY_SECONDS) -> None:
        self.memory = memory
        self._refused: dict[tuple[str, tuple[PayloadType, ...]], float] = {}

    def note(self, number: str, codecs: Sequence[PayloadType], now: float) -> None:
        self._refused = {key: at for key, at in self._refused.items() if now - at < self.memory}
        self._refused[(number, tuple(codecs))] = now

    def check(self, number: str, codecs: Sequence[PayloadType], now: float) -> None:
        at = self._refused.get((number, tuple(codecs)))
        if at is not None and now - at < self.memory:
            raise OfferRefused(f"not dialled: this phone refused the same offer ({offer_names(codecs)}) with 488 "
                               f"{now - at:.0f} s ago and accepts none of our codecs")

"""Who is calling 995: the caller's number and how far it can be believed, from a household's INVITE.

The edge decides (config/kamailio/production.cfg, docs/sip.md "Caller trust at the edge"): it removes
any ``X-995-Caller-Trust`` the sender wrote and sets its own, ``trunk`` (the carrier or village PBX by
address: its P-Asserted-Identity names the caller), ``registered`` (a digest-authenticated household
phone, or one calling from the contact it registered: P-Asserted-Identity names the user it proved)
or ``unverified``. The header means something
only on an INVITE the proxy itself relayed: one that reached our port from any other address, or
arrived without the header, is unverified, whatever it says. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from callcenter.domain.types import CallerId, CallerTrust

__all__ = ["Caller", "asserted_number", "caller_of"]

TRUST_HEADER = "x-995-caller-trust"
SOURCE_HEADER = "x-995-source"  # the address the proxy received the INVITE from
_ASSERTED = "p-asserted-identity"
_BY_HEADER = {"trunk": CallerTrust.TRUNK, "registered": CallerTrust.REGISTERED}


@dataclass(frozen=True, slots=True)
class Caller:
    number: str  # as signalled: the From user, or the trunk's asserted identity
    trust: CallerTrust
    why: str  # for the log and the operators: what decided the trust
    source: str = ""  # the network address the call came from: the proxy's X-995-Source, or the sender

    @property
    def id(self) -> CallerId:
        return CallerId(self.number, self.trust, self.source)


def caller_of(headers: Mapping[str, Any], source: tuple[str, int] | None, proxies: Iterable[str]) -> Caller:
    """The caller of a 995 INVITE: ``headers`` as parsed (From already a dict with "number"), ``source``
    the datagram's sender, ``proxies`` the addresses of the proxy that marks trust."""
    from_number = str((headers.get("From") or {}).get("number") or "")
    if source is None or source[0] not in set(proxies):
        return Caller(from_number, CallerTrust.UNVERIFIED, f"not relayed by the proxy (from {_host(source)})",
                      source[0] if source else "")
    origin = _header(headers, SOURCE_HEADER).strip()[:64]
    said = _header(headers, TRUST_HEADER).strip().lower()
    trust = _BY_HEADER.get(said, CallerTrust.UNVERIFIED)
    if trust is CallerTrust.UNVERIFIED:
        return Caller(from_number, trust, f"proxy says {said or 'nothing'}", origin)
    # The identity the proxy vouches for: the trunk's asserted one, or the user the household phone
    # authenticated as (which its From may not name).
    asserted = asserted_number(_header(headers, _ASSERTED))
    return Caller(asserted or from_number, trust, said + ("" if asserted else ", no asserted identity"), origin)


def asserted_number(value: str) -> str:
    """The user part of a P-Asserted-Identity (RFC 3325): ``"名" <sip:+8613…@host>`` or ``<tel:+86…>``."""
    uri = value.split(",", 1)[0].strip()
    if "<" in uri:
        uri = uri.split("<", 1)[1].split(">", 1)[0]
    for scheme in ("sips:", "sip:", "tel:"):
        if uri.lower().startswith(scheme):
            uri = uri[len(scheme):]
            break
    else:
        return ""
    return uri.split("@", 1)[0].split(";", 1)[0].strip()


def _header(headers: Mapping[str, Any], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name and isinstance(value, str):
            return value
    return ""


def _host(source: tuple[str, int] | None) -> str:
    return f"{source[0]}:{source[1]}" if source else "unknown"

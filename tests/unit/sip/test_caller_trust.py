"""Who is calling 995, from the INVITE as parsed: the proxy's trust header counts only on its own relays."""

from __future__ import annotations

from typing import Any

import pytest

from callcenter.domain.types import CallerTrust
from callcenter.sip.trust import asserted_number, caller_of

PROXY = ("10.0.0.10", 5060)
PROXIES = frozenset({"10.0.0.10"})


def headers(trust: str | None = None, asserted: str | None = None, from_number: str = "13800000001",
            name: str = "X-995-Caller-Trust") -> dict[str, Any]:
    found: dict[str, Any] = {"From": {"number": from_number}}
    if trust is not None:
        found[name] = trust
    if asserted is not None:
        found["P-Asserted-Identity"] = asserted
    return found


@pytest.mark.parametrize(("said", "trust"), [("trunk", CallerTrust.TRUNK), ("registered", CallerTrust.REGISTERED),
                                             ("unverified", CallerTrust.UNVERIFIED), ("yes", CallerTrust.UNVERIFIED),
                                             (None, CallerTrust.UNVERIFIED)])
def test_the_proxys_word_decides(said: str | None, trust: CallerTrust) -> None:
    assert caller_of(headers(said), PROXY, PROXIES).trust is trust


def test_the_header_name_is_matched_in_any_case() -> None:
    assert caller_of(headers("registered", name="x-995-caller-trust"), PROXY, PROXIES).trust is CallerTrust.REGISTERED


@pytest.mark.parametrize("source", [("10.0.0.66", 5060), None])
def test_an_invite_that_did_not_come_through_the_proxy_is_unverified_whatever_it_says(
        source: tuple[str, int] | None) -> None:
    found = caller_of(headers("trunk", "<sip:+8613900000009@carrier>"), source, PROXIES)
    assert found.trust is CallerTrust.UNVERIFIED
    assert found.number == "13800000001"  # the forged asserted identity is not believed either


def test_the_vouched_identity_is_the_caller_not_the_from() -> None:
    """A household phone that authenticated as 2002 but wrote 2001 in From is 2002; a trunk's caller
    is the one it asserts."""
    assert caller_of(headers("registered", "<sip:2002@edge.test>", "2001"), PROXY, PROXIES).number == "2002"
    trunk = caller_of(headers("trunk", '"张三" <tel:+8613912345678;cpc=ordinary>', "anonymous"), PROXY, PROXIES)
    assert (trunk.number, trunk.trust) == ("+8613912345678", CallerTrust.TRUNK)
    assert caller_of(headers("trunk", None, "07176123456"), PROXY, PROXIES).number == "07176123456"


def test_an_unverified_caller_keeps_its_from_and_never_its_asserted_identity() -> None:
    found = caller_of(headers("unverified", "<sip:2002@edge.test>", "2001"), PROXY, PROXIES)
    assert (found.number, found.trust) == ("2001", CallerTrust.UNVERIFIED)


@pytest.mark.parametrize(("value", "number"), [
    ("<sip:+8613800000001@host;user=phone>", "+8613800000001"), ("sip:2001@host", "2001"),
    ("<tel:+867176123456>", "+867176123456"), ("<sips:995@h>, <tel:+86>", "995"),
    ("<http://evil>", ""), ("", ""), ("garbage", "")])
def test_asserted_number(value: str, number: str) -> None:
    assert asserted_number(value) == number


def test_the_source_is_the_proxys_word_on_its_relays_and_the_sender_otherwise() -> None:
    relayed = headers("unverified") | {"X-995-Source": "198.51.100.9"}
    assert caller_of(relayed, PROXY, PROXIES).source == "198.51.100.9"
    assert caller_of(headers("unverified"), PROXY, PROXIES).source == ""  # the proxy named none
    # Sent straight to our port: its own X-995-Source means nothing, the datagram's sender is the source.
    assert caller_of(relayed, ("203.0.113.5", 5060), PROXIES).source == "203.0.113.5"
    assert caller_of(relayed, PROXY, PROXIES).id.source == "198.51.100.9"

"""The shipped production edge (config/kamailio/production.cfg) under attack, on loopback.

Real peers only: Kamailio with production.cfg, its SQLite database made by scripts/kamailio-db.sh,
a sipp party standing in for the registered 995 service (127.0.0.1, registered with digest auth
from the service's address) and another for the carrier trunk (127.0.0.3). Households and
attackers are raw UDP peers on other loopback addresses, each test's attacker on its own address
so that one test's ban does not blind another.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import wait_until
from sip.edge import (
    PROXY,
    REALM,
    SDP,
    TRUNK_HOST,
    EdgeDatabase,
    Response,
    SipPeer,
    digest,
    edge_kamailio,
    header_values,
    received_requests,
)
from sip.harness import Kamailio, Sipp, options_text, sip_request

pytestmark = pytest.mark.timeout(180)

HOUSEHOLD, HOUSEHOLD_PASSWORD = "13800000001", "household-secret-1"
NEIGHBOUR, NEIGHBOUR_PASSWORD = "13800000002", "neighbour-secret-2"
SERVICE_PASSWORD = "service-secret-995"
TRUST = "X-995-Caller-Trust"
PAI = "P-Asserted-Identity"


@dataclass
class Edge:
    kamailio: Kamailio
    database: EdgeDatabase
    service: Sipp
    trunk: Sipp
    work: Path
    neighbour: SipPeer
    peers: list[SipPeer] = field(default_factory=list)

    def peer(self, host: str) -> SipPeer:
        made = SipPeer(host, self.kamailio.port)
        self.peers.append(made)
        return made

    def uri(self, user: str) -> str:
        return f"sip:{user}@{PROXY}:{self.kamailio.port}"

    def press(self, peer: SipPeer, caller: str, headers: str = "") -> tuple[str, Response | None]:
        """A 995 INVITE from ``peer`` with ``caller`` in From; the proxy's (or service's) answer."""
        call_id = peer.send("INVITE", self.uri("995"), caller, "995", headers=headers,
                            body=SDP.format(host=peer.host))
        return call_id, peer.final(call_id, 5)

    def at_service(self, call_id: str) -> str:
        """The INVITE with this Call-ID as the service received it ('' if it never came)."""
        wait_until(lambda: bool(self._invite(self.work / "service.log", call_id)), 5)
        return self._invite(self.work / "service.log", call_id)

    def trunk_invites(self) -> list[str]:
        return [m for m in received_requests(self.work / "trunk.log") if m.startswith("INVITE")]

    def service_invites(self) -> list[str]:
        return [m for m in received_requests(self.work / "service.log") if m.startswith("INVITE")]

    @staticmethod
    def _invite(trace: Path, call_id: str) -> str:
        found = [m for m in received_requests(trace) if m.startswith("INVITE") and call_id in m]
        return found[0] if found else ""


def _party(work: Path, name: str, host: str = PROXY) -> Sipp:
    return Sipp("edge_party_busy", work, calls=100_000, host=host,
                extra=["-trace_msg", "-message_file", str(work / f"{name}.log"), "-recv_timeout", "100000"]).start()


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    work = tmp_path_factory.mktemp("edge")
    database = EdgeDatabase(work / "edge.sqlite").create()
    for user, password in (("995", SERVICE_PASSWORD), (HOUSEHOLD, HOUSEHOLD_PASSWORD),
                           (NEIGHBOUR, NEIGHBOUR_PASSWORD)):
        database.add_subscriber(user, password)
    trunk = _party(work, "trunk", TRUNK_HOST)
    service = _party(work, "service")
    kamailio = edge_kamailio(work / "kamailio", database, trunk.port).start()
    registrar = SipPeer(PROXY, kamailio.port)
    answer = registrar.register("995", SERVICE_PASSWORD, contact_port=service.port)
    assert answer is not None and answer.code == 200, kamailio.log_tail()
    neighbour = SipPeer("127.0.0.8", kamailio.port)
    answer = neighbour.register(NEIGHBOUR, NEIGHBOUR_PASSWORD)
    assert answer is not None and answer.code == 200, kamailio.log_tail()
    made = Edge(kamailio, database, service, trunk, work, neighbour, [registrar, neighbour])
    yield made
    for peer in made.peers:
        peer.close()
    service.stop()
    trunk.stop()
    kamailio.stop()


def test_spoofed_and_genuine_presses_in_the_same_minute_reach_the_service_with_their_trust(edge: Edge) -> None:
    household = edge.peer("127.0.0.6")
    answer = household.register(HOUSEHOLD, HOUSEHOLD_PASSWORD)
    assert answer is not None and answer.code == 200

    # An attacker presses for the household, claims its identity and pre-sets the trust header.
    forged = (f"{PAI}: <sip:{HOUSEHOLD}@{REALM}>\r\nP-Preferred-Identity: <sip:{HOUSEHOLD}@{REALM}>\r\n"
              f"{TRUST}: registered\r\nx-995-caller-trust: trunk\r\nX-995-Source: 127.0.0.6\r\n")
    spoofed, answer = edge.press(edge.peer("127.0.0.2"), HOUSEHOLD, forged)
    assert answer is not None and answer.code == 486, "the press must reach the service, not be refused"
    invite = edge.at_service(spoofed)
    assert invite, edge.kamailio.log_tail()
    assert header_values(invite, TRUST) == ["unverified"]
    assert header_values(invite, PAI) == [] and header_values(invite, "P-Preferred-Identity") == []
    assert header_values(invite, "X-995-Source") == ["127.0.0.2"]  # where it came from, not what it says

    # The household's own phone presses from the address and port it registered: registered, and
    # the identity is the one it registered, whatever it claims.
    genuine, answer = edge.press(household, HOUSEHOLD, f"{PAI}: <sip:13899999999@{REALM}>\r\n")
    assert answer is not None and answer.code == 486
    invite = edge.at_service(genuine)
    assert header_values(invite, TRUST) == ["registered"]
    assert header_values(invite, PAI) == [f"<sip:{HOUSEHOLD}@{REALM}>"]


def test_a_press_with_valid_digest_credentials_is_registered_from_any_port(edge: Edge) -> None:
    phone = edge.peer("127.0.0.6")  # a new port: not the registered contact
    challenge = phone.request("INVITE", edge.uri(NEIGHBOUR), HOUSEHOLD, NEIGHBOUR, body=SDP.format(host=phone.host))
    assert challenge is not None and challenge.code == 407

    credentials = digest(challenge, "INVITE", edge.uri("995"), HOUSEHOLD, HOUSEHOLD_PASSWORD)
    call_id, answer = edge.press(phone, HOUSEHOLD, f"Proxy-Authorization: {credentials}\r\n")
    assert answer is not None and answer.code == 486
    invite = edge.at_service(call_id)
    assert header_values(invite, TRUST) == ["registered"]
    assert header_values(invite, PAI) == [f"<sip:{HOUSEHOLD}@{REALM}>"]
    assert header_values(invite, "Proxy-Authorization") == [], "credentials are consumed at the edge"


def test_the_trunk_keeps_its_asserted_identity(edge: Edge) -> None:
    trunk = edge.peer(TRUNK_HOST)
    call_id, answer = edge.press(trunk, "anonymous", f"{PAI}: <tel:+8613912345678>\r\n{TRUST}: registered\r\n")
    assert answer is not None and answer.code == 486
    invite = edge.at_service(call_id)
    assert header_values(invite, TRUST) == ["trunk"]
    assert header_values(invite, PAI) == ["<tel:+8613912345678>"]


def test_requests_with_a_to_tag_for_no_dialog_are_not_relayed(edge: Edge) -> None:
    target = edge.peer("127.0.0.7")
    attacker = edge.peer("127.0.0.10")
    victim = f"sip:13900000009@{target.host}:{target.port}"
    route = f"Route: <sip:{PROXY}:{edge.kamailio.port};lr>\r\n"
    for method, headers in (("INVITE", ""), ("BYE", ""), ("INVITE", route), ("MESSAGE", route)):
        call_id = attacker.send(method, victim, HOUSEHOLD, "13900000009", to_tag="forged", headers=headers)
        answer = attacker.final(call_id)
        assert answer is not None and answer.code == 403, (method, headers, answer)
        assert "no such dialog" in answer.reason
    # Without a To-tag the same R-URI needs credentials, and then the dial plan refuses it.
    answer = attacker.request("INVITE", victim, HOUSEHOLD, "13900000009", body=SDP.format(host=attacker.host))
    assert answer is not None and answer.code == 407
    assert target.received(1.0) == []


def test_register_hijack_without_credentials_is_challenged_and_not_saved(edge: Edge) -> None:
    household = edge.peer("127.0.0.6")
    answer = household.register(HOUSEHOLD, HOUSEHOLD_PASSWORD)
    assert answer is not None and answer.code == 200
    hijacker = edge.peer("127.0.0.9")
    answer = hijacker.register(HOUSEHOLD, "")
    assert answer is not None and answer.code == 401
    answer = hijacker.register("995", "")
    assert answer is not None and answer.code == 403, "995 registers only from the service's address"

    # The service's alert call to the household reaches the household's phone, not the hijacker.
    service = edge.peer(PROXY)
    call_id = service.send("INVITE", edge.uri(HOUSEHOLD), "995", HOUSEHOLD, body=SDP.format(host=PROXY))
    assert wait_until(lambda: any(call_id in m for m in household.received(0.2)), 5)
    assert [m for m in hijacker.received(1.0) if call_id in m] == []


def test_the_service_number_is_refused_from_any_other_address(edge: Edge) -> None:
    impostor = edge.peer("127.0.0.13")
    answer = impostor.request("INVITE", edge.uri(NEIGHBOUR), "995", NEIGHBOUR, body=SDP.format(host=impostor.host))
    assert answer is not None and answer.code == 403 and "service calls only from its own address" in answer.reason


@pytest.mark.parametrize(("number", "reason"), [
    ("0044201234567", "international"), ("+442012345678", "international"), ("00861234", "international"),
    ("12590123456", "premium"), ("16812345678", "premium"), ("95588", "premium"),
    ("13912345678", "local extensions only"), ("01012345678", "local extensions only"),
])
def test_an_authenticated_household_dials_only_995_and_local_extensions(edge: Edge, number: str, reason: str) -> None:
    phone = edge.peer("127.0.0.11")
    trunk_before = len(edge.trunk_invites())
    unauthenticated = phone.request("INVITE", edge.uri(number), HOUSEHOLD, number, body=SDP.format(host=phone.host))
    assert unauthenticated is not None and unauthenticated.code == 407
    answer = phone.request("INVITE", edge.uri(number), HOUSEHOLD, number, password=HOUSEHOLD_PASSWORD,
                           body=SDP.format(host=phone.host))
    assert answer is not None and answer.code == 403 and reason in answer.reason, answer
    assert len(edge.trunk_invites()) == trunk_before


def test_a_household_reaches_a_local_extension(edge: Edge) -> None:
    phone = edge.peer("127.0.0.11")
    call_id = phone.send("INVITE", edge.uri(NEIGHBOUR), HOUSEHOLD, NEIGHBOUR, body=SDP.format(host=phone.host))
    challenge = phone.final(call_id)
    assert challenge is not None and challenge.code == 407
    answer = phone.request("INVITE", edge.uri(NEIGHBOUR), HOUSEHOLD, NEIGHBOUR, password=HOUSEHOLD_PASSWORD,
                           body=SDP.format(host=phone.host), timeout=0.5)
    assert answer is None  # the neighbour's phone (a bare socket) rings without answering
    assert any(m.startswith("INVITE") for m in edge.neighbour.received(1.0))


@pytest.mark.parametrize(("number", "code", "reason"), [
    ("0044201234567", 403, "international"), ("16812345678", 403, "premium"),
    ("12345", 403, "mainland mobiles and landlines only"), ("995", None, ""),
])
def test_the_service_dials_only_mainland_numbers(edge: Edge, number: str, code: int | None, reason: str) -> None:
    service = edge.peer(PROXY)
    trunk_before = len(edge.trunk_invites())
    answer = service.request("INVITE", edge.uri(number), "995", number, body=SDP.format(host=PROXY))
    if code is None:  # 995 calling 995 is a press like any other: the service's stand-in answers
        assert answer is not None and answer.code == 486
    else:
        assert answer is not None and answer.code == code and reason in answer.reason, answer
    assert len(edge.trunk_invites()) == trunk_before


@pytest.mark.parametrize("number", ["13912345678", "+8613912345678", "071761234567"])
def test_the_service_reaches_mainland_numbers_through_the_trunk_with_its_topology_hidden(
        edge: Edge, number: str) -> None:
    service = edge.peer(PROXY)
    answer = service.request("INVITE", edge.uri(number), "995", number, body=SDP.format(host=PROXY))
    assert answer is not None and answer.code == 486, "the trunk's answer comes back through the mask"
    invite = next(m for m in edge.trunk_invites() if answer.header("Call-ID") in m)
    assert f":{service.port}" not in invite, "the service's address leaked toward the trunk"
    proxy_via, *hidden = header_values(invite, "Via")
    assert proxy_via.startswith(f"SIP/2.0/UDP {PROXY}:{edge.kamailio.port}")
    assert hidden and all(via.startswith("SIP/2.0/UDP 192.0.2.1;") for via in hidden), hidden
    assert all("192.0.2.1" in contact for contact in header_values(invite, "Contact"))


def test_the_trunk_reaches_local_users_only(edge: Edge) -> None:
    trunk = edge.peer(TRUNK_HOST)
    answer = trunk.request("INVITE", edge.uri("13912345678"), "anonymous", "13912345678",
                           body=SDP.format(host=TRUNK_HOST))
    assert answer is not None and answer.code == 403 and "local users and 995 only" in answer.reason
    call_id = trunk.send("INVITE", edge.uri(NEIGHBOUR), "anonymous", NEIGHBOUR, body=SDP.format(host=TRUNK_HOST))
    assert wait_until(lambda: any(call_id in m for m in edge.neighbour.received(0.2)), 5)


def test_an_invite_flood_is_blocked_by_pike_and_bans_its_source(edge: Edge) -> None:
    flooder = edge.peer("127.0.0.5")
    sent = [flooder.send("INVITE", edge.uri("995"), HOUSEHOLD, "995", body=SDP.format(host=flooder.host))
            for _ in range(300)]
    assert wait_until(lambda: "flood from 127.0.0.5" in edge.kamailio.log_tail(400), 10)
    while flooder.received(1.0):  # until the service's answers to what got through stop coming
        pass
    reached = [call_id for call_id in sent if any(call_id in m for m in edge.service_invites())]
    assert 0 < len(reached) <= 70, len(reached)
    answer = flooder.final(flooder.send("OPTIONS", f"sip:{PROXY}:{edge.kamailio.port}", "probe", "probe"), 1)
    assert answer is None, "the flooder is banned"
    other = edge.peer("127.0.0.12")
    assert other.final(other.send("OPTIONS", f"sip:{PROXY}:{edge.kamailio.port}", "probe", "probe")) is not None


def test_password_guessing_bans_the_source_and_the_ban_survives_a_restart(edge: Edge) -> None:
    guesser = edge.peer("127.0.0.4")
    for attempt in range(5):
        answer = guesser.register(HOUSEHOLD, f"guess-{attempt}")
        assert answer is not None and answer.code == 401, attempt
    assert guesser.register(HOUSEHOLD, HOUSEHOLD_PASSWORD) is None, "banned: not even the right password"
    assert "source 127.0.0.4 banned" in edge.kamailio.log_tail(400)
    # An emergency from the banned address still reaches the service, unverified.
    call_id, answer = edge.press(guesser, HOUSEHOLD)
    assert answer is not None and answer.code == 486
    assert header_values(edge.at_service(call_id), TRUST) == ["unverified"]
    # Others are not affected.
    answer = edge.peer("127.0.0.6").register(HOUSEHOLD, HOUSEHOLD_PASSWORD)
    assert answer is not None and answer.code == 200

    edge.kamailio.stop()
    edge.kamailio.start()
    assert guesser.register(HOUSEHOLD, HOUSEHOLD_PASSWORD) is None, "the ban was lifted by the restart"
    answer = edge.peer("127.0.0.6").register(HOUSEHOLD, HOUSEHOLD_PASSWORD)
    assert answer is not None and answer.code == 200


def test_the_services_keepalive_probe_is_answered(edge: Edge) -> None:
    # The service's OPTIONS keepalive (sip.md, "Lost registrar") is answered by the edge.
    assert sip_request(edge.kamailio.port, options_text(edge.kamailio.port)).startswith("SIP/2.0 200")

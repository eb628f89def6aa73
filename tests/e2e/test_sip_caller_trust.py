"""A forged press rings no neighbour; a genuine one in the same minute fans out: the service as
`callcenter serve` builds it, registered with digest at Kamailio running the shipped production.cfg
(its SQLite subscriber database made by scripts/kamailio-db.sh), households and an attacker as sipp
phones on other loopback addresses (each address stands for a machine).

- The attacker (127.0.0.2) presses 995 with household 2001's number in From and a forged trust
  header: the edge marks it unverified, the service opens the incident held (level -1, urgent) and
  no neighbour of 2001 is INVITEd. The operators' API shows it held; one release, and they are.
- Household 2002 presses from the address and port it registered: registered, alerted at once.
Neighbours: every contact of the demo group registered (digest) to one sipp phone that answers busy;
the INVITEs it receives are the neighbours rung. 3009 and 3010 are 2002's own contacts, so only
2001's incident ever calls them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sip.edge import PROXY, EdgeDatabase, SipPeer, edge_kamailio, received_requests
from sip.harness import Kamailio, Sipp, free_udp_range

from callcenter.api.app import create_app
from callcenter.bootstrap import ConsoleContainer, build
from callcenter.db.roster_store import RosterStore
from callcenter.settings import load_settings
from contacts.demo import generate_roster, scale_for_households

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]
SERVICE_PASSWORD = "service-secret-995"
FORGED, GENUINE = "2001", "2002"
ATTACKER = "127.0.0.2"
ONLY_FORGEDS_NEIGHBOURS = ("3009", "3010")  # 2002's own contacts: never called for 2002's press
NEIGHBOURS = tuple(str(n) for n in range(3008, 3026))
PASSWORD = "duty-operator-995"


@dataclass
class Site:
    service: ConsoleContainer
    kamailio: Kamailio
    database: EdgeDatabase
    neighbours: Sipp
    work: Path

    def rung(self) -> set[str]:
        """Numbers whose INVITE reached the neighbours' phone."""
        invites = [m for m in received_requests(self.work / "neighbours.log") if m.startswith("INVITE")]
        return {found.group(1) for m in invites if (found := re.match(r"INVITE sip:([^@;]+)", m))}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    database = EdgeDatabase(tmp_path / "edge.sqlite").create()
    for user in ("995", *NEIGHBOURS, *(f"20{n:02d}" for n in range(1, 11))):
        database.add_subscriber(user, SERVICE_PASSWORD if user == "995" else f"secret-{user}")
    neighbours = Sipp("responder_486", tmp_path, calls=10_000, host="127.0.0.9",
                      extra=["-trace_msg", "-message_file", str(tmp_path / "neighbours.log")]).start()
    kamailio = edge_kamailio(tmp_path / "kamailio", database, trunk_port=neighbours.port).start()
    phone = SipPeer("127.0.0.9", kamailio.port)
    for user in NEIGHBOURS:
        answer = phone.register(user, f"secret-{user}", contact_port=neighbours.port)
        assert answer is not None and answer.code == 200, kamailio.log_tail()
    phone.close()
    low, high = free_udp_range(128)  # an RTP and an RTCP port per call
    settings = load_settings(
        data_dir=tmp_path / "data", engine={"call_channel": "sip"},
        sip={"registrar_host": PROXY, "registrar_port": kamailio.port, "password": SERVICE_PASSWORD,
             "sip_port": 0, "rtp_port_low": low, "rtp_port_high": high, "ring_timeout": 10.0})
    service = build(settings)
    service.init_db()
    roster = generate_roster(scale_for_households(10, 1.0), 7, settings.directory.max_group_responders)
    RosterStore(service.engine, settings.directory.phone_policy(), settings.directory.max_group_responders).apply(
        roster)
    service.accounts.add_user("duty", "operator", PASSWORD, None)
    service.runtime.start()
    try:
        assert service.sip_service.phone.wait_registered(10), kamailio.log_tail()
        yield Site(service, kamailio, database, neighbours, tmp_path)
    finally:
        service.close()
        neighbours.stop()
        kamailio.stop()


def _press(site: Site, host: str, line: str, extra_headers: list[str] | None = None) -> Sipp:
    """A household's phone on ``host`` presses its key (INVITE 995 through the edge)."""
    return Sipp("household_call", site.work, host=host, remote_port=site.kamailio.port,
                keys={"household": line}, extra=["-recv_timeout", "3000", *(extra_headers or [])])


def _incidents(operator: TestClient) -> dict[str, dict[str, Any]]:
    """Open incidents by the caller's number, each in full, read through the operators' API."""
    found: dict[str, dict[str, Any]] = {}
    for item in operator.get("/api/incidents", params={"open": "true"}).json()["items"]:
        found[item["caller"]] = operator.get(f"/api/incidents/{item['id']}").json()
    return found


def _wait(check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    return check()


def test_a_forged_press_rings_no_neighbour_while_a_genuine_one_fans_out(site: Site) -> None:
    with TestClient(create_app(site.service)) as operator:
        response = operator.post("/api/session", json={"name": "duty", "password": PASSWORD})
        assert response.status_code == 200
        operator.headers["X-CSRF-Token"] = response.json()["csrf_token"]

        genuine_phone = _press(site, "127.0.0.6", GENUINE)
        household = SipPeer("127.0.0.6", site.kamailio.port)  # registers the sipp phone's own port
        answer = household.register(GENUINE, f"secret-{GENUINE}", contact_port=genuine_phone.port)
        household.close()
        assert answer is not None and answer.code == 200
        attacker = _press(site, ATTACKER, FORGED)
        assert attacker.run(timeout=30) == 0, attacker.errors()
        assert genuine_phone.run(timeout=30) == 0, genuine_phone.errors()

        both = _wait(lambda: (found := _incidents(operator)) and len(found) == 2 and found, 20)
        assert both and len(both) == 2, both
        forged = next(d for caller, d in both.items() if caller.endswith(FORGED))
        genuine = next(d for caller, d in both.items() if caller.endswith(GENUINE))
        assert forged["incident"]["caller_trust"] == "unverified" and forged["incident"]["held"]
        assert forged["incident"]["level"] == -1 and forged["incident"]["urgent"]
        assert forged["legs"] == []
        assert "held_unverified" in [e["kind"] for e in forged["timeline"]]
        assert genuine["incident"]["caller_trust"] == "registered" and not genuine["incident"]["held"]

        # The genuine press rings its neighbours; the forged one none of 2001's.
        assert _wait(lambda: len(site.rung()) >= 10, 30), site.rung()
        assert not site.rung() & set(ONLY_FORGEDS_NEIGHBOURS)

        released = operator.post(f"/api/incidents/{forged['incident']['id']}/release")
        assert released.status_code == 200, released.text
        assert not released.json()["incident"]["held"] and released.json()["incident"]["level"] == 0
        assert _wait(lambda: set(ONLY_FORGEDS_NEIGHBOURS) <= site.rung(), 30), site.rung()
        again = operator.post(f"/api/incidents/{forged['incident']['id']}/release")
        assert again.status_code == 409  # released once: nothing more to release


def _operator(service: ConsoleContainer) -> TestClient:
    client = TestClient(create_app(service))
    response = client.post("/api/session", json={"name": "duty", "password": PASSWORD})
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return client


def _spoof(site: Site, line: str) -> None:
    attacker = _press(site, ATTACKER, line)
    assert attacker.run(timeout=30) == 0, attacker.errors()


def _attacker_state(operator: TestClient) -> dict[str, Any] | None:
    sources = operator.get("/api/sources").json()
    return next((s for s in sources if s["source"] == ATTACKER), None)


def test_a_spoofing_source_is_banned_its_incidents_stay_held_and_a_restart_keeps_the_ban(site: Site) -> None:
    """One attacker address claims one household after another, slower than pike notices. Over the
    per-source limit it is banned: every incident it opened stays held (no hold timer left), so not
    one neighbour is rung even when no operator acts; the ban is still there after the service
    restarts, and an operator can lift it."""
    limit = site.service.policy.source_limit.presses
    lines = [f"20{n:02d}" for n in range(1, limit + 3)]
    with _operator(site.service) as operator:
        for line in lines[:limit + 1]:
            _spoof(site, line)
        state = _wait(lambda: (s := _attacker_state(operator)) and s["banned"] and s, 20)
        assert state and state["banned"], operator.get("/api/sources").json()
        held = _wait(lambda: (found := _incidents(operator)) and len(found) == limit + 1 and found, 20)
        assert held and all(d["incident"]["held"] and d["incident"]["next_escalation_at"] is None
                            for d in held.values()), held
        assert sorted(state["incidents"]) == sorted(d["incident"]["id"] for d in held.values())
        assert "callcenter_sources_banned 1.0" in operator.get("/metrics").text

    # The service restarts (an upgrade, a crash): what it learned of the attacker is still there.
    settings = site.service.settings
    site.service.close()
    site.service = build(settings)
    site.service.runtime.start()
    assert site.service.sip_service.phone.wait_registered(10), site.kamailio.log_tail()
    with _operator(site.service) as operator:
        state = _attacker_state(operator)
        assert state is not None and state["banned"], operator.get("/api/sources").json()
        _spoof(site, lines[-1])
        latest = _wait(lambda: (found := _incidents(operator)) and len(found) == limit + 2 and found, 20)
        assert latest, _incidents(operator)
        newest = next(d for caller, d in latest.items() if caller.endswith(lines[-1]))
        assert newest["incident"]["held"] and newest["incident"]["next_escalation_at"] is None
        assert "hold_kept" in [e["kind"] for e in newest["timeline"]]

        lifted = operator.post(f"/api/sources/{ATTACKER}/lift")
        assert lifted.status_code == 200 and not lifted.json()["banned"], lifted.text
    time.sleep(2)  # the phones had every chance to be rung
    assert site.rung() == set(), site.rung()


SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")


def test_sip_around_the_edge_is_dropped_unanswered_and_counted(site: Site) -> None:
    """An attacker who finds the service's own SIP port sends a 995 INVITE straight to it, with a
    forged trust header and identity: no answer (nothing to reflect, nothing learned), no incident,
    and the drop counted on /metrics. The same household's press through the edge still opens."""
    service_port = site.service.sip_service.phone.sip_port
    attacker = SipPeer(ATTACKER, service_port)
    try:
        forged = f"X-995-Caller-Trust: trunk\r\nP-Asserted-Identity: <sip:{FORGED}@{PROXY}>\r\n"
        call_id = attacker.send("INVITE", f"sip:995@{PROXY}:{service_port}", FORGED, "995", headers=forged, body=SDP)
        assert attacker.final(call_id, timeout=2.0) is None
        probe = attacker.send("OPTIONS", f"sip:995@{PROXY}:{service_port}", FORGED, "995")
        assert attacker.final(probe, timeout=1.0) is None
    finally:
        attacker.close()
    with _operator(site.service) as operator:
        assert _incidents(operator) == {}
        dropped = re.search(r"^callcenter_sip_foreign_datagrams_total (\S+)$", operator.get("/metrics").text, re.M)
        assert dropped and float(dropped.group(1)) >= 2
        _spoof(site, GENUINE)  # through the edge: unverified, but taken
        assert _wait(lambda: len(_incidents(operator)) == 1, 20)

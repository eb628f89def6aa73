"""Two service instances on one PostgreSQL behind Kamailio's dispatcher (config/kamailio/dispatcher.cfg).

Real peers only: Kamailio with the shipped dispatcher configuration (its list file written with
this test's free ports), two ``python -m callcenter.standalone`` processes with the SIP channel
(each its own SIP port, one PostgreSQL database), sipp households pressing 995 through Kamailio and
one sipp phone answering for every responder (it rings and never answers, so legs stay ringing).

Two presses are dispatched round-robin, one to each instance. Then the instance holding the
scheduler lease is killed with SIGKILL while its legs ring, and two more keys are pressed at once
(one of them meets the dead instance and is failed over by Kamailio). The other instance must,
within 10 s, hold the lease and re-place the legs the dead one had in flight (its attempts closed
as interrupted, the next attempts placed by the survivor); both presses reach it; the escalation
goes on; Kamailio's probes mark the dead instance down, and a later press goes to the survivor. No attempt
is placed twice: each responder's phone receives at most one INVITE per call leg the database holds
for it, and no SMS leg id appears twice in the placement log.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from engine_process import (
    EngineProcess,
    Site,
    claimed_by,
    eventually,
    leg_rows,
    make_site,
    scheduler_holder,
)
from sip.edge import TRUNK_HOST, EdgeDatabase, edge_defines
from sip.harness import (
    KAMAILIO_SH,
    ROOT,
    Kamailio,
    Sipp,
    free_udp_port,
    options_text,
    sip_request,
)
from sip_rig import (
    RESPONDER_TRACE,
    PhoneTrace,
    invites_by_recipient,
    register_responders,
    responder_numbers,
    responders_phone,
    sip_env,
    stored_form,
)

from callcenter.db.incident_repo import SqlIncidentStore
from callcenter.sip.orphans import dialog_ids

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(240)]
TAKEOVER_SECONDS = 10
INSTANCES = ("a", "b")
# Kamailio's dispatcher.cfg challenges every REGISTER: the instances (995) and the responders'
# phones are subscribers in its database, as an operator adds them (scripts/kamailio-db.sh).
SERVICE_PASSWORD = "service-secret-995"
RESPONDER_PASSWORD = "responder-secret"

# Slow enough that legs still ring when the leader dies, fast enough that the chain climbs.
POLICY = """
levels:
  - name: 联防组
    operators: true
    targets:
      - {role: household_contact, channels: [call, sms]}
    next_after_seconds: 8
  - name: 网格
    targets:
      - {role: grid_worker, channels: [call]}
      - {role: grid_centre_household, channels: [call]}
    next_after_seconds: 8
  - name: 村站和乡镇
    targets:
      - {role: village_station, channels: [call]}
    next_after_seconds: 8
  - name: 派出所
    urgent: true
    targets:
      - {role: police_station, channels: [call]}
quorum:
  acknowledgements: 5
  any_of_roles: []
redial:
  after_seconds: 2
  max_redials: 1
"""


@dataclass
class DispatcherKamailio(Kamailio):
    """Kamailio with config/kamailio/dispatcher.cfg and a list file naming the instances' ports."""

    instance_ports: tuple[int, ...] = ()
    database: EdgeDatabase | None = None

    def start(self, timeout: float = 15.0) -> Kamailio:
        assert self.database is not None, "dispatcher.cfg needs its database"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        listing = self.run_dir / "dispatcher.list"
        listing.write_text("".join(f"1 sip:127.0.0.1:{port} 0 0\n" for port in self.instance_ports))
        cfg = ROOT / "config" / "kamailio" / "dispatcher.cfg"
        log = (self.run_dir / "kamailio.log").open("ab")
        self.process = subprocess.Popen(
            [str(KAMAILIO_SH), str(self.port), str(self.run_dir), str(cfg), "-A", f'DISPATCHER_LIST="{listing}"',
             *edge_defines(self.database, trunk_port=free_udp_port())],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"kamailio exited: {self.log_tail()}")
            with contextlib.suppress(TimeoutError):
                sip_request(self.port, options_text(self.port), timeout=0.3)
                return self
        raise RuntimeError(f"kamailio did not answer OPTIONS on {self.port}: {self.log_tail()}")

    def sees_up(self, port: int) -> bool:
        """The dispatcher's last verdict on this destination is "up" (destinations start up)."""
        verdicts = re.findall(rf"sip:127\.0\.0\.1:{port} (up|down)", self.log_text())
        return not verdicts or verdicts[-1] == "up"

    def log_text(self) -> str:
        path = self.run_dir / "kamailio.log"
        return path.read_text(errors="replace") if path.exists() else ""


@dataclass
class Rig:
    site: Site
    store: SqlIncidentStore
    kamailio: DispatcherKamailio
    responders: Sipp
    ports: dict[str, int]
    work: Path
    households: list[Sipp] = field(default_factory=list)  # stopped with the rig: a press may outlive its instance

    def start_instance(self, name: str) -> EngineProcess:
        process = self.site.start(name, [], instance=name)
        assert process.wait_for(lambda p: "running" in p.output(), 90), process.output()
        return process

    def press(self, caller: str) -> Sipp:
        """A household's press relayed by the village PBX (the trunk): trusted, so it fans out at once."""
        household = Sipp("household_call", self.work / "households", host=TRUNK_HOST, remote_port=self.kamailio.port,
                         keys={"household": caller, "service": "995"}).start()
        self.households.append(household)
        return household

    def incident_of(self, caller: str) -> str | None:
        found = [row.id for row in self.store.incidents(limit=100) if row.caller == caller]
        return found[0] if found else None


def _instance_env(kamailio_port: int, sip_port: int) -> dict[str, str]:
    return sip_env(kamailio_port, sip_port, ring_timeout=6) | {
        "CALLCENTER_SIP__PASSWORD": SERVICE_PASSWORD,
        "CALLCENTER_ENGINE__LEASE_SECONDS": "6",
        "CALLCENTER_ENGINE__SIMULATED_TIME_SCALE": "1",
    }


@pytest.fixture
def rig(tmp_path: Path, postgres_url: str) -> Iterator[Rig]:
    site = make_site(tmp_path, groups=5, database_url=postgres_url)
    (site.root / "escalation.yaml").write_text(POLICY, encoding="utf-8")
    ports = {name: free_udp_port() for name in INSTANCES}
    store = site.store
    database = EdgeDatabase(tmp_path / "edge.sqlite").create()
    database.add_subscriber("995", SERVICE_PASSWORD)
    for number in responder_numbers(store):
        database.add_subscriber(number, RESPONDER_PASSWORD)
    kamailio = DispatcherKamailio(tmp_path / "kamailio", instance_ports=tuple(ports.values()), database=database)
    kamailio.start()
    work = tmp_path / "sipp"
    responders = responders_phone(work)
    register_responders(store, kamailio.port, responders.port, password=RESPONDER_PASSWORD)
    site.overrides = {name: _instance_env(kamailio.port, port) for name, port in ports.items()}
    made = Rig(site, store, kamailio, responders, ports, work)
    try:
        yield made
    finally:
        site.stop_all()
        for household in made.households:
            household.stop()
        responders.stop()
        kamailio.stop()
        store.engine.dispose()


def test_the_survivor_takes_calls_lease_and_pending_legs(rig: Rig) -> None:
    site, store = rig.site, rig.store
    a = rig.start_instance("a")
    assert eventually(lambda: (scheduler_holder(store) or "").startswith("a#"), 15), a.output()
    b = rig.start_instance("b")
    # Kamailio probed b before it ran and marked it down: wait until its probes see both instances up.
    time.sleep(2.5)
    assert eventually(lambda: all(rig.kamailio.sees_up(port) for port in rig.ports.values()), 15), \
        rig.kamailio.log_tail()
    first, second, third, fourth, fifth = site.callers[:5]

    # Two presses, dispatched round-robin: one incident on each instance.
    for caller in (first, second):
        rig.press(caller)
        assert eventually(lambda c=caller: rig.incident_of(c) is not None, 20), rig.kamailio.log_tail()
    assert eventually(lambda: bool(claimed_by(store, "a#")) and bool(claimed_by(store, "b#")), 20), \
        f"legs not placed by both instances\n{rig.kamailio.log_tail()}"
    # a's alert calls ring (DIALING) at the responders' phone: kill a now, mid-incident.
    assert eventually(lambda: bool(_ringing_of(store, "a#")), 15), a.output()
    led_by_a = {leg.incident_id for leg in leg_rows(store).values() if (leg.claimed_by or "").startswith("a#")}
    levels_before = {i: store.incident_row(i).level for i in led_by_a}

    a.kill()
    killed_at, killed_wall = time.monotonic(), time.time()
    # Two presses at once, before the probes can have noticed: round-robin sends one of them to the
    # dead instance, and Kamailio fails it over to the survivor after DS_INVITE_TIMEOUT_MS.
    rig.press(third)
    rig.press(fourth)
    assert eventually(lambda: (scheduler_holder(store) or "").startswith("b#"), TAKEOVER_SECONDS), \
        f"lease still with {scheduler_holder(store)}\n{b.output()}"
    # b re-placed a's legs that were in flight: a's attempts closed as interrupted, the next ones b's.
    assert eventually(lambda: _replaced_by(store, "a#", "b#"), TAKEOVER_SECONDS - (time.monotonic() - killed_at)), \
        f"a's ringing legs not re-placed by b\n{b.output()}"

    # a's calls still ringing at the kill are cancelled by b, not left ringing until Kamailio's
    # fr_inv_timer (120 s here): a neighbour's phone would ring on for a call nobody hears.
    trace = PhoneTrace(rig.work / RESPONDER_TRACE)
    orphans = _ringing_at(trace, store, "a#", killed_wall)
    assert orphans, "none of a's calls was ringing at the kill"
    assert eventually(lambda: orphans <= set(trace.cancels()), TAKEOVER_SECONDS), \
        f"not cancelled: {orphans - set(trace.cancels())}\n{b.output()}"
    assert max(trace.cancels()[call_id] - killed_wall for call_id in orphans) <= TAKEOVER_SECONDS

    for caller in (third, fourth):
        assert eventually(lambda c=caller: _placed_by(rig, c, "b#"), 15), rig.kamailio.log_tail()
    assert eventually(lambda: "failed or timed out: marked inactive" in rig.kamailio.log_text(), 5), \
        rig.kamailio.log_tail()

    # The dispatcher marked a down (at the failed call, or by its probes); a new key press goes to b.
    assert eventually(lambda: f"sip:127.0.0.1:{rig.ports['a']} down" in rig.kamailio.log_text(), 10), \
        rig.kamailio.log_tail()
    rig.press(fifth)
    assert eventually(lambda: _placed_by(rig, fifth, "b#"), 15), rig.kamailio.log_tail()

    # The escalation of a's incidents goes on under b.
    assert eventually(lambda: all(store.incident_row(i).level > levels_before[i] for i in led_by_a), 30), \
        {i: store.incident_row(i).level for i in led_by_a}
    assert b.alive

    # No attempt placed twice: SMS leg ids once each in the placement log; per responder, no more
    # INVITE dialogs than call legs (attempts) the database holds for that number.
    placed = Counter(p["leg"] for p in site.log.read())
    assert [leg for leg, times in placed.items() if times > 1] == []
    legs = leg_rows(store)
    attempts = Counter(leg.recipient_phone for leg in legs.values()
                       if leg.channel == "call" and leg.claimed_by is not None)
    invites = invites_by_recipient(rig.work)
    assert invites, "no INVITE reached the responders' phone"
    assert {n: c for n, c in invites.items() if c > attempts.get(stored_form(n, attempts), 0)} == {}


def _placed_by(rig: Rig, caller: str, prefix: str) -> bool:
    """The caller's incident is stored and its legs are placed by the instance ``prefix``."""
    incident_id = rig.incident_of(caller)
    return incident_id is not None and any(
        leg.incident_id == incident_id and (leg.claimed_by or "").startswith(prefix)
        for leg in leg_rows(rig.store).values())


def _ringing_at(trace: PhoneTrace, store: SqlIncidentStore, prefix: str, moment: float) -> set[str]:
    """Call-IDs of the calls of instance ``prefix`` that had reached the phone and were not yet
    cancelled at ``moment`` (wall clock)."""
    ours = {dialog_ids(leg.claimed_by or "", leg_id).call_id for leg_id, leg in leg_rows(store).items()
            if (leg.claimed_by or "").startswith(prefix) and leg.channel == "call"}
    arrived = {invite.call_id for invite in trace.invites() if invite.at <= moment}
    cancelled = trace.cancels()
    return {call_id for call_id in ours & arrived if cancelled.get(call_id, moment + 1) > moment}


def _ringing_of(store: SqlIncidentStore, prefix: str) -> set[str]:
    return {leg_id for leg_id, leg in leg_rows(store).items()
            if (leg.claimed_by or "").startswith(prefix) and leg.channel == "call" and leg.status == "dialing"}


def _replaced_by(store: SqlIncidentStore, dead: str, survivor: str) -> bool:
    legs = leg_rows(store)
    interrupted = [leg for leg in legs.values() if leg.interrupted and (leg.claimed_by or "").startswith(dead)]
    def next_of(leg_id: str, attempt: int) -> str:
        return leg_id.rsplit("/", 1)[0] + f"/{attempt + 1}"
    return bool(interrupted) and all(
        next_of(leg.id, leg.attempt) in legs
        and (legs[next_of(leg.id, leg.attempt)].claimed_by or "").startswith(survivor)
        for leg in interrupted if leg.channel == "call")

"""bench.sip_attack at a tiny size: the service behind production.cfg, genuine households pressing
while attackers on other loopback addresses press 995 as households (and three times as each genuine
household of the phase just before its own press) and spray RFC 2833 "1" packets at the live alert
calls. Asserts the behaviour, never the timings: no neighbour rung by an attack, no leg acknowledged
without its phone's key, every genuine press fanned out to all its level-0 neighbours."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.sip_attack import parse_args, run
from callcenter.db.engine import make_engine, migrate
from callcenter.db.roster_store import RosterStore
from callcenter.settings import load_settings
from contacts.demo import generate_roster, scale_for_households

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated directory of ~1,000 households (about 100 joint-defense groups), mobiles and
    landlines (reached through the carrier trunk), no extensions."""
    data_dir = tmp_path_factory.mktemp("directory")
    settings = load_settings(data_dir=data_dir)
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        roster = generate_roster(scale_for_households(1000), 7, settings.directory.max_group_responders)
        RosterStore(engine, settings.directory.phone_policy(), settings.directory.max_group_responders).apply(roster)
    finally:
        engine.dispose()
    return data_dir / "callcenter.db"


def test_spoofed_presses_and_injected_keys_ring_nobody_and_acknowledge_nothing(directory: Path,
                                                                                tmp_path: Path) -> None:
    args = parse_args(["--seconds", "5", "--spoofed", "20", "--dtmf", "200", "--households", "5",
                       "--channels", "100", "--directory", str(directory)])
    result = run(args, tmp_path / "run")
    attack, database = result["attack"], result["database"]

    assert attack["spoofed_sent"] == 20 and attack["spoofed_answered"] == 20
    assert attack["spray"]["sent"] == 200, attack["spray"]
    assert attack["spray"]["before_answer"] > 0 and attack["spray"]["after_answer"] > 0, attack["spray"]
    # Nobody rung for a press the edge could not verify: neither a spoofed household's neighbours nor
    # a genuine household's before it pressed itself; and no INVITE to anybody else.
    assert result["attack_rung"]["total"] == 0 and result["attack_rung"]["unexplained"] == 0, result["attack_rung"]
    spoofed = database["spoofed_households"]
    assert spoofed["incidents"] == spoofed["unverified"] == spoofed["held"] == 5 and spoofed["with_call_legs"] == 0
    # No leg acknowledged but by its phone's own 1, after it was pressed; and those all counted.
    assert database["false_acknowledgements"] == 0, database["false_ack_numbers"]
    assert database["acknowledged_by_a_pressed_key"] == database["keys_pressed"] == 2 * 2 * 5
    # Every genuine press fanned out, the three spoofed presses before it notwithstanding.
    assert result["baseline"]["fanned_out"] == 5 and attack["fanned_out"] == 5, (result["baseline"], attack)
    assert database["genuine_households"]["still_held"] == 0

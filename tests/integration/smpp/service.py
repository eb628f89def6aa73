"""`callcenter serve`'s composition root with SMS through SMPP to Jasmin, for the SMPP tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callcenter.bootstrap import Container, build
from callcenter.settings import load_settings
from tests.integration.smpp.jasmin_rig import PASSWORD, USER, JasminRig
from tests.integration.twilio.rig import group_directory
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[3]
SMS_ONLY_POLICY = """\
levels:
  - name: 联防组
    operators: true
    targets:
      - role: household_contact
        channels: [sms]
      - role: grid_worker
        channels: [sms]
    next_after_seconds: 600
  - name: 派出所
    targets:
      - role: police_station
        channels: [sms]
quorum:
  acknowledgements: 2
  any_of_roles: [grid_worker]
redial:
  after_seconds: 1
  max_redials: 2
  call_outcomes: [busy, no_answer, failed, answered_without_key]
  sms_outcomes: [failed, undelivered]
ring_timeout_seconds: 30
"""


def serve(jasmin: JasminRig, database_url: str, data_dir: Path, sms_channel: str = "smpp",
          **more: Any) -> Container:
    """`callcenter serve`'s composition root: SMS through SMPP to Jasmin (``sms_channel`` "smpp", or
    another package with the SMPP path behind it per config/channels.yaml), calls simulated (none
    planned); ``more``: further settings sections (twilio=...)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    policy = data_dir / "escalation.yaml"
    policy.write_text(SMS_ONLY_POLICY, encoding="utf-8")
    settings = load_settings(
        database_url=database_url, data_dir=data_dir,
        engine={"call_channel": "simulated", "sms_channel": sms_channel, "policy_file": policy},
        smpp={"enabled": True, "host": "127.0.0.1", "port": jasmin.smpp_port, "system_id": USER,
              "password": PASSWORD, "source_addr": "995", "window": 10, "throughput": 500,
              "reconnect_seconds": 0.2, "reconnect_max_seconds": 1.0},
        **more,
    )
    container = build(settings)
    container.init_db()
    container.directory = group_directory(3)  # type: ignore[assignment]
    container.runtime.start()
    smpp = container.channel_packages["smpp"]
    wait_for(lambda: smpp.path.session.bound, what="the SMPP bind to Jasmin")  # type: ignore[attr-defined]
    return container

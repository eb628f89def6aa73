"""The interop suite's directory, policy and phones.

A real softphone against the real stack: Debian's baresip (tests/sip/baresip.py) as households and
neighbours, registered at Kamailio (config/kamailio/loopback.cfg), and the service as `callcenter
serve` wires it (bench/mass_stack.py: SQLite, IVR flows, the SIP channel, the console API) with a
small directory imported through `callcenter roster import`.

The directory: household 2001 (联防一组) presses; the other households of its group each have one
contact, and each contact number is one baresip phone behaving as a kind of neighbour. Three more
households (2011, 2012, 2013), alone in their groups, press to type their incidents fire, theft and
other; all four household lines are one baresip process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HOUSEHOLD = "2001"  # presses, and types the incident medical (key 3)
TYPING_HOUSEHOLDS = {"2011": ("1", "fire"), "2012": ("2", "theft"), "2013": ("4", "other")}
PTIME_40_LINE = "2013"  # this line's calls are offered, and sent, at 40 ms packetisation
RING_SECONDS = 5


@dataclass(frozen=True)
class Neighbour:
    number: str
    codecs: tuple[str, ...]
    behaviour: str  # "press_1", "hold_then_1", "reject", "never_answer"



NEIGHBOURS = (
    Neighbour("3101", ("PCMU",), "press_1"),
    Neighbour("3102", ("PCMA",), "press_1"),
    Neighbour("3103", ("PCMA", "PCMU"), "press_1"),
    Neighbour("3104", ("PCMU", "PCMA"), "hold_then_1"),
    Neighbour("3105", ("PCMU", "PCMA"), "reject"),
    Neighbour("3106", ("PCMU", "PCMA"), "never_answer"),
)

ROSTER = "\n".join([
    "[户]",
    "乡镇,村,网格,联防组,户编号,户主,地址,一键电话,联系人,特殊关爱,备注",
    f"城关镇,互通村,第一网格,联防一组,H01,张大山,互通村一组1号,{HOUSEHOLD},张小山:3100,,",
    *(f"城关镇,互通村,第一网格,联防一组,H0{n + 2},邻居{n + 2},互通村一组{n + 2}号,200{n + 2},邻居{n + 2}:{x.number},,"
      for n, x in enumerate(NEIGHBOURS)),
    *(f"城关镇,互通村,第一网格,联防{group}组,H{line},户{line},互通村{group}组1号,{line},,,"
      for line, group in zip(TYPING_HOUSEHOLDS, "二三四", strict=True)),
    "[责任人]",
    "姓名,角色,电话,负责范围",
    "网格员刘,网格员,13900000001,城关镇/互通村/第一网格",
]) + "\n"

# One level, calls only; a quorum nobody meets (no call is stood down) and no redial while the
# suite runs, so each phone's first call is the one its behaviour decides.
POLICY = f"""
levels:
  - name: 联防组
    operators: true
    targets:
      - role: household_contact
        channels: [call]
quorum:
  acknowledgements: 20
  any_of_roles: []
redial:
  after_seconds: 600
  max_redials: 1
ring_timeout_seconds: {RING_SECONDS}
"""


def callcenter(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own, as an operator runs it, on the suite's data directory."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CALLCENTER_")}
    env["CALLCENTER_DATA_DIR"] = str(data_dir)
    done = subprocess.run([sys.executable, "-c", "from callcenter.cli import main; main()", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done

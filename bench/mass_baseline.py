"""The same mass event against the code of an earlier revision (``bench.mass_event --baseline REV``).

How: REV is checked out with ``git worktree add --detach /tmp/bench-baseline-REV REV`` (kept for the
next run), this tree's ``bench/*.py`` are copied over its own, and ``python -m bench.mass_event`` runs
there in a subprocess with the worktree first on ``PYTHONPATH``. So the *measurement* is this bench's
(same presses from the same seed, same analysis, same figures) and everything it drives is REV's: the
``callcenter`` package, config/ (escalation policy, Kamailio's demo.cfg), the sipp scenarios and
scripts, and its own demo directory built by REV's CLI (its schema is REV's).

Not PYTHONPATH alone from here: the service runs in the bench's process (``bench/mass_stack.py``
``start_service``), and this tree on ``sys.path`` (``-m`` from here, and the editable install's
``.pth``) would shadow or mix REV's package and its config files, which are found beside the package.
A separate process also gives REV a fresh interpreter, as a run of its own would have.

The interpreter: this one (its ``.venv``) when ``pyproject.toml`` and ``uv.lock`` are the same at REV
as here, else REV's own ``.venv`` made by its ``scripts/install.sh``. The bench code must still run on
REV's ``callcenter``; ``bench/mass_stack.py`` wraps rather than subclasses what may change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import ROOT

DEPENDENCY_FILES = ("pyproject.toml", "uv.lock")


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def worktree(rev: str) -> Path:
    """REV checked out (detached) in /tmp, made once; this tree's bench code copied over its own."""
    commit = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    tree = Path(tempfile.gettempdir()) / f"bench-baseline-{rev}"
    if tree.exists() and git("rev-parse", "HEAD", cwd=tree) != commit:
        raise RuntimeError(f"{tree} holds {git('rev-parse', 'HEAD', cwd=tree)}, not {rev}; remove it with "
                           f"`git worktree remove --force {tree}`")
    if not tree.exists():
        git("worktree", "add", "--detach", str(tree), commit)
    for source in (ROOT / "bench").glob("*.py"):
        shutil.copy2(source, tree / "bench" / source.name)
    return tree


def interpreter(tree: Path, rev: str) -> str:
    """This interpreter if REV's dependencies are ours, else REV's own .venv (installed once)."""
    same = subprocess.run(["git", "diff", "--quiet", rev, "--", *DEPENDENCY_FILES], cwd=ROOT, check=False)
    if same.returncode == 0:
        return sys.executable
    python = tree / ".venv" / "bin" / "python"
    if not python.exists():
        subprocess.run([str(tree / "scripts" / "install.sh")], cwd=tree, check=True, timeout=1800)
    return str(python)


def run(rev: str, argv: list[str], cap: float | None, quiet: float) -> dict[str, Any]:
    """``python -m bench.mass_event ARGV`` on REV's code with its drain capped at ``cap``; its results."""
    tree = worktree(rev)
    python = interpreter(tree, rev)
    out = tree / "bench" / "results" / "baseline-last.json"
    out.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [python, "-m", "bench.mass_event", *argv, "--drain-cap", "none" if cap is None else str(cap),
               "--out", str(out)]
    print(f"baseline {rev}: {' '.join(command[1:])}  (in {tree})", flush=True)
    limit = (cap if cap is not None else 3 * 3600.0) + quiet + 1800  # presses, start-up and analysis besides
    done = subprocess.run(command, cwd=tree, env=env, check=False, timeout=limit)
    if done.returncode != 0 or not out.exists():
        return {"error": f"baseline run exited {done.returncode}", "rev": rev}
    result: dict[str, Any] = json.loads(out.read_text())
    return result | {"rev": rev, "commit": git("rev-parse", "HEAD", cwd=tree), "python": python}

"""The press spool: what happened while the database was unreachable, fsynced, one JSON line each.

A key press during a database outage is alerted from memory; before any leg is handed to a
channel its records are appended here and fsynced, so a crash during the outage loses nothing.
When the database is back the records are replayed into the store (``callcenter.service.replay``).

Record kinds, each with the incident id and the time it happened:

- ``opened``: a new incident (caller, household, label, address, fan-out plan, open key, holder);
- ``pressed_again``: the household pressed again while its spooled incident was open;
- ``claimed``: legs about to be handed to a channel (leg id → channel name), by ``holder``;
- ``outcome``: what a channel said of a leg (hand-over, ringing, acknowledgement...).

Files: appends go to ``active.jsonl``; a replay first seals it (renamed ``sealed-<n>.jsonl``, so
new appends start a fresh file), applies the sealed segments oldest first, and moves each fully
applied one to ``replayed/`` (kept for audit). A line torn by a crash mid-write is skipped; any
other line that does not parse is kept in ``rejected.jsonl`` and logged, never dropped silently.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["PressSpool", "Segment", "SpoolFormatError", "SpoolRecord", "decode", "encode"]

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
KINDS = ("opened", "pressed_again", "claimed", "outcome")
_REQUIRED: dict[str, tuple[str, ...]] = {
    "opened": ("caller", "household_id", "label", "address", "plan", "open_key", "holder"),
    "pressed_again": ("counted",),
    "claimed": ("legs", "holder"),
    "outcome": ("leg", "status", "detail", "ref"),
}


class SpoolFormatError(ValueError):
    """A spool line that is not a record of this format (the message says what is wrong)."""


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    kind: str
    incident_id: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    record_id: str = field(default_factory=lambda: uuid.uuid4().hex)


def encode(record: SpoolRecord) -> str:
    """One line of JSON (no newline inside: non-ASCII text is kept, control characters escaped)."""
    _check(record.kind, record.incident_id, record.data)
    if record.at.tzinfo is None:
        raise SpoolFormatError("a spool record's time must carry its time zone")
    return json.dumps({"v": FORMAT_VERSION, "id": record.record_id, "kind": record.kind,
                       "incident": record.incident_id, "at": record.at.isoformat(), "data": record.data},
                      ensure_ascii=False, separators=(",", ":"))


def decode(line: str) -> SpoolRecord:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SpoolFormatError(f"not JSON: {exc.msg} at column {exc.colno}") from exc
    if not isinstance(raw, dict) or raw.get("v") != FORMAT_VERSION:
        raise SpoolFormatError(f"not a version {FORMAT_VERSION} spool record")
    try:
        at = datetime.fromisoformat(str(raw["at"]))
        record = SpoolRecord(str(raw["kind"]), str(raw["incident"]), at, dict(raw["data"]), str(raw["id"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise SpoolFormatError(f"bad record field: {exc}") from exc
    if at.tzinfo is None:
        raise SpoolFormatError("record time without a time zone")
    _check(record.kind, record.incident_id, record.data)
    return record


def _check(kind: str, incident_id: str, data: dict[str, Any]) -> None:
    if kind not in _REQUIRED:
        raise SpoolFormatError(f"unknown record kind {kind!r} (one of {', '.join(KINDS)})")
    if not incident_id:
        raise SpoolFormatError(f"{kind} record without an incident id")
    missing = [name for name in _REQUIRED[kind] if name not in data]
    if missing:
        raise SpoolFormatError(f"{kind} record lacks {', '.join(missing)}")


@dataclass(frozen=True, slots=True)
class Segment:
    """One sealed spool file and what it held."""

    path: Path
    records: list[SpoolRecord]
    rejected: list[str]


class PressSpool:
    """The append-only spool directory of one instance; safe for the threads of one process."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.active = directory / "active.jsonl"
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "replayed").mkdir(exist_ok=True)

    def append(self, records: Sequence[SpoolRecord]) -> None:
        """Write ``records`` in one write and fsync before returning (durable first, then act)."""
        payload = "".join(encode(r) + "\n" for r in records).encode()
        with self._lock:
            created = not self.active.exists()
            fd = os.open(self.active, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _fsync_dir(self.directory)

    def seal(self) -> list[Path]:
        """Close the active file for replay; every sealed segment, oldest first."""
        with self._lock:
            if self.active.exists() and self.active.stat().st_size > 0:
                self.active.replace(self.directory / f"sealed-{time.time_ns():020d}.jsonl")
                _fsync_dir(self.directory)
        return self.sealed()

    def sealed(self) -> list[Path]:
        return sorted(self.directory.glob("sealed-*.jsonl"))

    def read(self, path: Path) -> Segment:
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
        records: list[SpoolRecord] = []
        rejected: list[str] = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                records.append(decode(line))
            except SpoolFormatError as exc:
                if number == len(lines):  # no newline after it: torn by a crash mid-write, never acted on
                    log.warning("spool %s: incomplete last line skipped (%s)", path.name, exc)
                    continue
                log.error("spool %s line %d rejected: %s", path.name, number, exc)
                rejected.append(line)
        return Segment(path, records, rejected)

    def retire(self, segment: Segment) -> None:
        """A fully applied segment: kept under replayed/, its rejected lines in rejected.jsonl."""
        if segment.rejected:
            with (self.directory / "rejected.jsonl").open("a", encoding="utf-8") as out:
                out.writelines(line + "\n" for line in segment.rejected)
                out.flush()
                os.fsync(out.fileno())
        segment.path.replace(self.directory / "replayed" / segment.path.name)
        _fsync_dir(self.directory)

    def waiting(self) -> list[SpoolRecord]:
        """Every record not yet replayed (sealed segments, then the active file)."""
        paths = [*self.sealed(), *([self.active] if self.active.exists() else [])]
        return [record for path in paths for record in self.read(path).records]


def _fsync_dir(directory: Path) -> None:
    """A new or renamed file survives a power cut only once its directory entry is synced."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

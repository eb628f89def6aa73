"""The standalone engine's lines ("incident <id> <number>") are read back by the crash tests while
log lines from other threads go to the same file: each line must reach the file in one write."""

from __future__ import annotations

import io

import pytest

from callcenter import standalone


class CountingRaw(io.RawIOBase):
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.writes.append(bytes(data))
        return len(data)


def unbuffered() -> tuple[io.TextIOWrapper, CountingRaw]:
    """stdout as PYTHONUNBUFFERED makes it: every write goes straight to the file."""
    raw = CountingRaw()
    return io.TextIOWrapper(raw, write_through=True), raw  # type: ignore[arg-type]


def test_print_would_write_a_line_in_two_pieces() -> None:
    stream, raw = unbuffered()
    print("incident 20261204-000000-abcdef 2023", file=stream, flush=True)
    assert raw.writes == [b"incident 20261204-000000-abcdef 2023", b"\n"]  # room for a log line between


def test_a_line_goes_out_in_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    stream, raw = unbuffered()
    monkeypatch.setattr("sys.stdout", stream)
    standalone._say("incident 20261204-000000-abcdef 2023")
    assert raw.writes == [b"incident 20261204-000000-abcdef 2023\n"]

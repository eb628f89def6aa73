"""Leg reports handed over by call threads and written behind them: in order per incident, in
batches, the reporter never waiting, nothing dropped on close."""

from __future__ import annotations

import threading

import pytest

from callcenter.domain.types import LegStatus
from callcenter.service.leg_reports import LegReports
from callcenter.service.outage import Report


class Writes:
    """The engine's side: records each batch; can hold the writer inside a write."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[str]]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()
        self.fail_for: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, incident_id: str, reports: list[Report]) -> None:
        self.entered.set()
        assert self.hold.wait(10), "held writer never released"
        if incident_id in self.fail_for:
            raise RuntimeError("database says no")
        with self._lock:
            self.batches.append((incident_id, [f"{r.leg_id}={r.status}" for r in reports]))


@pytest.fixture
def writes() -> Writes:
    return Writes()


def test_a_reporter_never_waits_and_reports_of_one_incident_arriving_meanwhile_are_written_together(
        writes: Writes) -> None:
    reports = LegReports(writes, writers=1)
    writes.hold.clear()
    reports.leg_outcome("A/n1/call/alert/1", LegStatus.DIALING)
    assert writes.entered.wait(5)  # the writer is inside the first batch, held
    reports.leg_outcome("A/n1/call/alert/1", LegStatus.RINGING)  # returns at once although the writer is held
    reports.leg_outcome("A/n2/call/alert/1", LegStatus.DIALING)
    reports.leg_outcome("A/n1/call/alert/1", LegStatus.ACKNOWLEDGED, "pressed 1")
    assert reports.pending() == 4
    writes.hold.set()
    assert reports.flush(5)
    assert writes.batches == [
        ("A", ["A/n1/call/alert/1=dialing"]),
        ("A", ["A/n1/call/alert/1=ringing", "A/n2/call/alert/1=dialing", "A/n1/call/alert/1=acknowledged"]),
    ]
    assert reports.close(5)


def test_one_incident_is_written_by_one_writer_at_a_time_in_order(writes: Writes) -> None:
    reports = LegReports(writes, writers=4)
    threads = [threading.Thread(target=lambda n=n: [reports.leg_outcome(f"{'ABC'[n % 3]}/r{n}/call/alert/{k}",
                                                                        LegStatus.DIALING) for k in range(50)])
               for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert reports.flush(10)
    written = [item for incident, batch in writes.batches for item in batch]
    assert len(written) == 300
    for n in range(6):  # each reporter's reports in the order it made them
        mine = [item for item in written if f"/r{n}/" in item]
        assert mine == [f"{'ABC'[n % 3]}/r{n}/call/alert/{k}=dialing" for k in range(50)]
    assert reports.close(5)


def test_a_failed_write_is_logged_and_other_incidents_go_on(writes: Writes, caplog: pytest.LogCaptureFixture) -> None:
    writes.fail_for.add("BAD")
    reports = LegReports(writes, writers=1)
    reports.leg_outcome("BAD/n1/call/alert/1", LegStatus.BUSY, "486")
    reports.leg_outcome("OK/n1/call/alert/1", LegStatus.BUSY, "486")
    assert reports.flush(5)
    assert writes.batches == [("OK", ["OK/n1/call/alert/1=busy"])]
    assert "BAD/n1/call/alert/1 busy" in caplog.text
    assert reports.close(5)


def test_close_writes_what_was_handed_over_then_refuses_more(writes: Writes) -> None:
    reports = LegReports(writes, writers=2)
    writes.hold.clear()
    for n in range(10):
        reports.leg_outcome(f"I{n}/n/call/alert/1", LegStatus.NO_ANSWER)
    threading.Timer(0.2, writes.hold.set).start()
    assert reports.close(5)
    assert sorted(incident for incident, _ in writes.batches) == sorted(f"I{n}" for n in range(10))
    with pytest.raises(RuntimeError, match="closed"):
        reports.leg_outcome("late/n/call/alert/1", LegStatus.FAILED)


def test_flush_says_when_the_writers_are_stuck(writes: Writes) -> None:
    reports = LegReports(writes, writers=1)
    writes.hold.clear()
    reports.leg_outcome("A/n/call/alert/1", LegStatus.FAILED)
    assert not reports.flush(0.2)
    writes.hold.set()
    assert reports.close(5)

"""Hand-over batching: the first sender of an incident writes every hand-over that arrives meanwhile."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from callcenter.domain.types import LegStatus
from callcenter.service.handover import HandoverBatches
from callcenter.service.outage import Report


def dialing(n: int) -> Report:
    return Report(f"inc-1/leg{n}", LegStatus.DIALING, "", f"ref{n}")


def test_hand_overs_arriving_while_the_first_is_written_go_in_the_next_batch() -> None:
    batches: list[list[Report]] = []

    def write(incident_id: str, batch: list[Report]) -> None:
        batches.append(batch)
        if len(batches) == 1:  # other senders answer while the first write is under way
            handover.handed_over("inc-1", dialing(2))
            handover.handed_over("inc-1", dialing(3))

    handover = HandoverBatches(write)
    handover.handed_over("inc-1", dialing(1))
    assert batches == [[dialing(1)], [dialing(2), dialing(3)]]


def test_each_incident_has_its_own_writer() -> None:
    written: list[tuple[str, list[str]]] = []

    def write(incident_id: str, batch: list[Report]) -> None:
        written.append((incident_id, [r.leg_id for r in batch]))
        if incident_id == "inc-1":
            handover.handed_over("inc-2", Report("inc-2/leg1", LegStatus.SUBMITTED))

    handover = HandoverBatches(write)
    handover.handed_over("inc-1", dialing(1))
    assert written == [("inc-1", ["inc-1/leg1"]), ("inc-2", ["inc-2/leg1"])]  # not queued behind inc-1's writer


def test_a_failed_write_gives_up_the_writer_so_later_hand_overs_are_written() -> None:
    batches: list[list[Report]] = []

    def write(incident_id: str, batch: list[Report]) -> None:
        if not batches:
            batches.append([])
            raise RuntimeError("store failed")
        batches.append(batch)

    handover = HandoverBatches(write)
    with pytest.raises(RuntimeError):
        handover.handed_over("inc-1", dialing(1))
    handover.handed_over("inc-1", dialing(2))
    assert batches == [[], [dialing(2)]]


def test_concurrent_senders_have_every_hand_over_written_once() -> None:
    written: list[str] = []
    lock = threading.Lock()

    def write(incident_id: str, batch: list[Report]) -> None:
        with lock:
            written.extend(r.leg_id for r in batch)

    handover = HandoverBatches(write)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: handover.handed_over("inc-1", dialing(n)), range(200)))
    assert sorted(written) == sorted(dialing(n).leg_id for n in range(200))

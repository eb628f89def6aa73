"""The press spool: record format and the append-only files (torn lines, bad lines, sealing)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from factories import PRESS_AT, open_scene

from callcenter.domain.types import CallerTrust, LegStatus
from callcenter.service.replay import claimed_record, opened_record, outcome_record, pressed_again_record
from callcenter.service.spool import PressSpool, SpoolFormatError, SpoolRecord, decode, encode


def test_every_record_kind_survives_encoding() -> None:
    scene = open_scene()
    incident = scene.incident
    leg = next(iter(incident.legs))
    records = [
        opened_record(incident, "h:1", "node#ab12cd"),
        pressed_again_record(incident.id, PRESS_AT + timedelta(seconds=9), False, CallerTrust.REGISTERED),
        claimed_record(incident.id, PRESS_AT, {leg: "recording-call"}, "node#ab12cd"),
        outcome_record(incident.id, PRESS_AT, leg, LegStatus.ACKNOWLEDGED, "按了1", "sim-1"),
    ]
    for record in records:
        line = encode(record)
        assert "\n" not in line
        assert decode(line) == record
    assert decode(encode(records[0])).data["label"] == incident.label  # Chinese text kept as text


def test_a_time_in_another_zone_is_kept_as_the_same_instant() -> None:
    beijing = PRESS_AT.astimezone(timezone(timedelta(hours=8)))
    record = pressed_again_record("inc-1", beijing, True, CallerTrust.REGISTERED)
    assert decode(encode(record)).at == PRESS_AT


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "not JSON"),
    ('{"v": 2, "kind": "opened"}', "not a version 1"),
    ('{"v": 1, "id": "x", "kind": "exploded", "incident": "i", "at": "2026-03-14T01:30:00+00:00", "data": {}}',
     "unknown record kind"),
    ('{"v": 1, "id": "x", "kind": "outcome", "incident": "i", "at": "2026-03-14T01:30:00+00:00", '
     '"data": {"leg": "l"}}', "outcome record lacks status, detail, ref"),
    ('{"v": 1, "id": "x", "kind": "claimed", "incident": "", "at": "2026-03-14T01:30:00+00:00", '
     '"data": {"legs": {}, "holder": "h"}}', "without an incident id"),
    ('{"v": 1, "id": "x", "kind": "claimed", "incident": "i", "at": "2026-03-14T01:30:00", '
     '"data": {"legs": {}, "holder": "h"}}', "without a time zone"),
    ('{"v": 1, "id": "x", "kind": "claimed", "incident": "i", "at": "yesterday", "data": {}}', "bad record field"),
])
def test_a_line_that_is_no_record_is_refused_with_the_reason(line: str, message: str) -> None:
    with pytest.raises(SpoolFormatError, match=message):
        decode(line)


def test_a_record_without_its_time_zone_is_not_written() -> None:
    with pytest.raises(SpoolFormatError, match="time zone"):
        encode(SpoolRecord("pressed_again", "inc-1", datetime(2026, 3, 14, 1, 30), {"counted": True}))


def records(n: int) -> list[SpoolRecord]:
    return [pressed_again_record(f"inc-{i}", PRESS_AT + timedelta(seconds=i), True, CallerTrust.REGISTERED)
            for i in range(n)]


def test_appended_records_wait_until_their_segment_is_retired(tmp_path: Path) -> None:
    spool = PressSpool(tmp_path)
    spool.append(records(2))
    assert [r.incident_id for r in spool.waiting()] == ["inc-0", "inc-1"]
    sealed = spool.seal()
    spool.append(records(3)[2:])  # arrives during the replay: a new active file
    assert len(sealed) == 1 and spool.active.exists()
    segment = spool.read(sealed[0])
    assert [r.incident_id for r in segment.records] == ["inc-0", "inc-1"]
    spool.retire(segment)
    assert [r.incident_id for r in spool.waiting()] == ["inc-2"]
    assert (tmp_path / "replayed" / sealed[0].name).exists()


def test_a_line_torn_by_a_crash_is_skipped_and_a_corrupt_one_kept_aside(tmp_path: Path) -> None:
    spool = PressSpool(tmp_path)
    spool.append(records(1))
    with spool.active.open("a", encoding="utf-8") as out:
        out.write("garbage in the middle\n")
    spool.append(records(2)[1:])
    with spool.active.open("a", encoding="utf-8") as out:
        out.write(encode(records(3)[2])[:40])  # the process died inside this write
    segment = spool.read(spool.seal()[0])
    assert [r.incident_id for r in segment.records] == ["inc-0", "inc-1"]
    assert segment.rejected == ["garbage in the middle"]
    spool.retire(segment)
    assert (tmp_path / "rejected.jsonl").read_text(encoding="utf-8") == "garbage in the middle\n"


def test_sealing_an_empty_spool_makes_no_segment(tmp_path: Path) -> None:
    spool = PressSpool(tmp_path)
    assert spool.seal() == []
    assert spool.waiting() == []


def test_each_append_is_whole_lines_of_json(tmp_path: Path) -> None:
    spool = PressSpool(tmp_path)
    spool.append(records(3))
    lines = spool.active.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["pressed_again"] * 3
    assert all(datetime.fromisoformat(json.loads(line)["at"]).tzinfo is not None for line in lines)
    assert PRESS_AT.tzinfo is UTC

"""The fake call keeps the CallMedia contract (the same check a real channel runs) and its virtual clock."""

from __future__ import annotations

import pytest

from callcenter.ivr.fakes import FakeCallMedia
from callcenter.ivr.media import CallEnded
from callcenter.ivr.media_contract import FarEndScript, check_call_media

SCRIPT = FarEndScript(number="+8613907170002", digits="19#")


def scripted(**changes: object) -> FakeCallMedia:
    media = FakeCallMedia(SCRIPT.number, digits=[(3.0, "1"), (4.0, "9"), (6.5, "#")], hang_up_at=9.0)
    for name, value in changes.items():
        setattr(media, name, value)
    return media


def test_the_fake_keeps_the_contract() -> None:
    assert check_call_media(scripted(), SCRIPT) == []


def test_the_check_catches_a_media_that_loses_a_key() -> None:
    media = FakeCallMedia(SCRIPT.number, digits=[(3.0, "1"), (6.5, "#")], hang_up_at=9.0)
    assert check_call_media(media, SCRIPT)[0] == "the call ended before every key arrived (heard '1#' of '19#')"


def test_the_check_catches_a_media_that_never_sees_the_hang_up() -> None:
    problems = check_call_media(scripted(hang_up_at=None), SCRIPT)
    assert problems == ["next_digit() did not raise CallEnded within 15 s of the far end hanging up",
                        "play() on an ended call did not raise CallEnded"]


def test_the_check_catches_a_wrong_number() -> None:
    assert check_call_media(scripted(number="110"), SCRIPT)[0] == (
        "remote_number is '110', expected '+8613907170002'")


def test_a_key_pressed_during_a_prompt_waits_in_the_buffer() -> None:
    media = FakeCallMedia(digits=[(1.0, "3")])
    media.play(b"\x80" * 8000 * 5)
    media.next_digit(0.0)
    assert media.now == 0.0 and media.is_playing()
    assert media.next_digit(10.0) == "3" and media.now == 1.0


def test_waiting_past_the_hang_up_raises_call_ended_at_the_hang_up() -> None:
    media = FakeCallMedia(hang_up_at=2.0)
    assert media.next_digit(1.0) is None
    with pytest.raises(CallEnded):
        media.next_digit(5.0)
    assert media.now == 2.0 and not media.is_live()


def test_a_recording_stops_at_a_stop_key_or_the_hang_up() -> None:
    media = FakeCallMedia(digits=[(2.5, "#")], hang_up_at=10.0)
    assert len(media.record(20.0)) == 2.5 * 8000
    assert len(media.record(20.0)) == 7.5 * 8000
    assert media.record(20.0) == b""

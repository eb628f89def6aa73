"""The behaviour every ``CallMedia`` must show, as a check any channel's test can run.

The far end follows a ``FarEndScript``: it sends audio or silence, presses ``digits`` (in order) some
time after the answer, and hangs up after the last one. ``check_call_media`` drives the media through
the port and returns the broken promises (an empty list when the contract holds). The reference is
``FakeCallMedia`` (tests/unit/ivr); a real channel runs the same check with a real far end (sipp).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from callcenter.ivr.media import CallEnded, CallMedia

__all__ = ["FarEndScript", "check_call_media"]

SILENCE = b"\x80"
SAMPLE_RATE = 8000


@dataclass(frozen=True, slots=True)
class FarEndScript:
    number: str  # what remote_number must say
    digits: str  # keys the far end presses, in order, after the answer
    digit_wait: float = 10.0  # the longest a test waits for each key
    hang_up_wait: float = 15.0  # the longest a test waits for the far end's BYE after the last key
    record_seconds: float = 0.5


def check_call_media(media: CallMedia, script: FarEndScript) -> list[str]:
    problems: list[str] = []
    for check in (_identity, _playback, _record, _digits, _far_end_hang_up, _after_the_end):
        problems.extend(check(media, script))
    return problems


Check = Callable[[CallMedia, FarEndScript], list[str]]


def _identity(media: CallMedia, script: FarEndScript) -> list[str]:
    problems = []
    if media.remote_number != script.number:
        problems.append(f"remote_number is {media.remote_number!r}, expected {script.number!r}")
    if not media.is_live():
        problems.append("a call just answered is not live")
    return problems


def _playback(media: CallMedia, script: FarEndScript) -> list[str]:
    problems = []
    media.play(SILENCE * SAMPLE_RATE * 2)  # two seconds: still playing when play() returns
    if not media.is_playing():
        problems.append("is_playing() is false right after play() queued two seconds of audio")
    media.stop_playback()
    if media.is_playing():
        problems.append("is_playing() is still true after stop_playback()")
    return problems


def _record(media: CallMedia, script: FarEndScript) -> list[str]:
    audio = media.record(script.record_seconds, stop_digits="")
    expected = script.record_seconds * SAMPLE_RATE
    if not 0.5 * expected <= len(audio) <= 1.5 * expected:
        return [f"record({script.record_seconds}) returned {len(audio)} bytes, expected about {expected:.0f}"]
    return []


def _digits(media: CallMedia, script: FarEndScript) -> list[str]:
    heard = ""
    try:
        for _ in script.digits:
            heard += media.next_digit(script.digit_wait) or "?"
    except CallEnded:
        return [f"the call ended before every key arrived (heard {heard!r} of {script.digits!r})"]
    if heard != script.digits:
        return [f"next_digit() gave {heard!r}, the far end pressed {script.digits!r}"]
    return []


def _far_end_hang_up(media: CallMedia, script: FarEndScript) -> list[str]:
    waited = 0.0
    try:
        while waited < script.hang_up_wait:
            media.next_digit(0.5)
            waited += 0.5
    except CallEnded:
        return [] if not media.is_live() else ["is_live() is true after CallEnded"]
    return [f"next_digit() did not raise CallEnded within {script.hang_up_wait:g} s of the far end hanging up"]


def _after_the_end(media: CallMedia, script: FarEndScript) -> list[str]:
    problems = []
    try:
        media.play(SILENCE * 160)
        problems.append("play() on an ended call did not raise CallEnded")
    except CallEnded:
        pass
    try:
        media.hang_up()
    except Exception as exc:  # the contract: harmless when the call has already ended
        problems.append(f"hang_up() on an ended call raised {exc!r}")
    return problems

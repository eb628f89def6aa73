"""What a phone heard against what the service sent: bit-exact search of prompt audio in a recording.

The service keeps call audio as 8 kHz unsigned 8-bit PCM (callcenter/ivr/audio.py) and encodes it
as pyVoIP does (bias to signed, then G.711 μ-law or A-law); a phone decodes G.711 to 16-bit linear.
A prompt therefore reaches the phone's recording as ``g711_round_trip(prompt)`` exactly, whatever
the packetisation, as long as no packet is lost: the search needs no tolerance, and a match of
a few hundred samples cannot happen by chance.

baresip decodes with libre/rem's tables (``g711_u2l``, ``g711_A2l``): the A-law one is ITU's, as
Python's ``audioop`` has it; the μ-law one differs in the two zero codes only (0xFF → +2 and
0x7F → -2 where ITU's reference decoder gives 0), so the expected audio is decoded the same way.
"""

from __future__ import annotations

import audioop
from dataclasses import dataclass

WINDOW = 160  # samples (20 ms) that must match before a match is extended
LOUD = 500  # a window with a sample this loud (16-bit) is speech, not the silence around it
# A prompt's last packets may still be in flight when the service hangs up after it: its end counts as
# heard when no more than this is missing (60 ms, three packets at 20 ms).
TAIL = 480


def _rem_ulaw_table() -> list[bytes]:
    table = [audioop.ulaw2lin(bytes([code]), 2) for code in range(256)]
    table[0xFF], table[0x7F] = (2).to_bytes(2, "little", signed=True), (-2).to_bytes(2, "little", signed=True)
    return table


REM_ULAW = _rem_ulaw_table()


def g711_round_trip(prompt: bytes, codec: str) -> bytes:
    """16-bit PCM baresip decodes from ``prompt`` (unsigned 8-bit) sent in ``codec`` (PCMU or PCMA)."""
    signed = audioop.bias(prompt, 1, -128)
    if codec == "PCMA":
        return audioop.alaw2lin(audioop.lin2alaw(signed, 1), 2)
    return b"".join(REM_ULAW[code] for code in audioop.lin2ulaw(signed, 1))


@dataclass(frozen=True)
class Heard:
    """A stretch of one prompt found bit-exact in a recording (offsets and length in samples)."""

    prompt_at: int  # where in the prompt the stretch starts
    recording_at: int  # where in the recording
    samples: int
    prompt_samples: int

    @property
    def seconds(self) -> float:
        return self.samples / 8000

    @property
    def complete(self) -> bool:
        """The whole prompt from its first loud window on to its end (but its last TAIL samples)."""
        return self.prompt_at + self.samples >= self.prompt_samples - TAIL


def first_loud_window(pcm16: bytes, start: int = 0) -> int | None:
    """Sample offset of the first 20 ms window from ``start`` with speech in it."""
    for at in range(start, len(pcm16) // 2 - WINDOW + 1, WINDOW // 2):
        if audioop.max(pcm16[2 * at:2 * (at + WINDOW)], 2) >= LOUD:
            return at
    return None


def find(prompt: bytes, codec: str, recording: bytes, from_loud: int = 0) -> Heard | None:
    """The longest bit-exact stretch of ``prompt`` in ``recording`` that starts at a loud window of the
    prompt (the ``from_loud``-th from its start, each WINDOW apart); None when it is not there."""
    expected = g711_round_trip(prompt, codec)
    at = first_loud_window(expected)
    if at is None:
        return None
    at += from_loud * WINDOW
    needle = expected[2 * at:2 * (at + WINDOW)]
    best: Heard | None = None
    position = recording.find(needle)
    while position >= 0:
        if position % 2 == 0:
            length = _common_length(expected, 2 * at, recording, position)
            if best is None or length > best.samples:
                best = Heard(at, position // 2, length, len(expected) // 2)
        position = recording.find(needle, position + 1)
    return best


def _common_length(a: bytes, a_at: int, b: bytes, b_at: int) -> int:
    """Samples equal from a[a_at:] and b[b_at:] on, compared 20 ms at a time, then sample by sample."""
    step = 2 * WINDOW
    length = 0
    while a_at + length + step <= len(a) and b_at + length + step <= len(b) \
            and a[a_at + length:a_at + length + step] == b[b_at + length:b_at + length + step]:
        length += step
    while a_at + length + 2 <= len(a) and b_at + length + 2 <= len(b) \
            and a[a_at + length:a_at + length + 2] == b[b_at + length:b_at + length + 2]:
        length += 2
    return length // 2

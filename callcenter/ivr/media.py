"""One live call's media as the IVR sees it, whatever carries it (SIP/RTP, or a fake in unit tests).

Audio is 8 kHz mono unsigned 8-bit PCM, 160 bytes per 20 ms (what pyVoIP reads and writes; 0x80 is
silence). DTMF digits arrive out of band (RFC 2833) and are buffered from the moment the call is
answered, so a digit pressed during a prompt is never lost (barge-in).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from callcenter.domain.types import LegStatus
from callcenter.service.ports import LegOrder

__all__ = ["AnsweredLegHandler", "CallEnded", "CallMedia", "InboundCallHandler", "LegDecided"]


class CallEnded(Exception):
    """The far end hung up (or the call was torn down); whoever drives the call stops."""


class CallMedia(Protocol):
    @property
    def remote_number(self) -> str:
        """The other party's number as signalled (caller ID inbound, the dialled number outbound)."""
        ...

    def is_live(self) -> bool: ...

    def play(self, audio: bytes) -> None:
        """Queue audio behind anything still playing; returns at once. Raises CallEnded."""
        ...

    def is_playing(self) -> bool: ...

    def stop_playback(self) -> None:
        """Drop queued audio (a key pressed during a prompt interrupts it)."""
        ...

    def next_digit(self, timeout: float) -> str | None:
        """The oldest buffered DTMF digit, waiting up to ``timeout`` seconds; None on timeout. Raises CallEnded."""
        ...

    def record(self, max_seconds: float, stop_digits: str = "#") -> bytes:
        """Received audio until ``max_seconds`` pass, a stop digit arrives or the call ends (then what was heard)."""
        ...

    def hang_up(self) -> None:
        """End the call; harmless when it has already ended."""
        ...


# Runs one inbound 995 call (already answered, incident already opened) until it ends.
InboundCallHandler = Callable[[CallMedia], None]

# Told an answered alert leg's outcome the moment a key decides it (ACKNOWLEDGED or DECLINED, with a
# detail such as "pressed 1"), while the call goes on with its confirmation. The channel stores it at
# once: the quorum, the console and the escalation timer see the key, not the end of the call.
LegDecided = Callable[[LegStatus, str], None]

# Runs the alert flow on an answered alert leg. A key that decides the leg is told to ``LegDecided`` as
# it is recognised; the return value is the outcome when no key decided it (ANSWERED_WITHOUT_KEY), or
# repeats the decided one. The channel passes its own ``LegDecided`` with every call, so no handler
# can run without somewhere to report to.
AnsweredLegHandler = Callable[[LegOrder, CallMedia, LegDecided], LegStatus]

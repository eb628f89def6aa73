"""CallMedia (callcenter/ivr/media.py) on a live hardened pyVoIP call."""

from __future__ import annotations

import queue
import time

from pyVoIP.VoIP import CallState

from callcenter.ivr.media import CallEnded
from callcenter.sip.phone import HardenedCall
from callcenter.sip.rtp import HardenedRTPClient

__all__ = ["SipCallMedia"]

FRAME_BYTES = 160  # 20 ms of 8 kHz 8-bit audio
FRAME_SECONDS = 0.02


class SipCallMedia:
    """Audio out through the RTP sender's queue, digits from the call's buffer, audio in from RTP."""

    def __init__(self, call: HardenedCall) -> None:
        self._call = call

    @property
    def remote_number(self) -> str:
        return self._call.number

    def is_live(self) -> bool:
        return bool(self._call.state == CallState.ANSWERED)

    def play(self, audio: bytes) -> None:
        self._require_live()
        self._call.write_audio(audio)

    def is_playing(self) -> bool:
        return self.is_live() and any(client.queued_audio() > 0 for client in self._senders())

    def stop_playback(self) -> None:
        for client in self._senders():
            client.drop_queued_audio()

    def next_digit(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._call.digits.get_nowait()
            except queue.Empty:
                pass
            self._require_live()
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            # Woken by a key or the call's end; the 1 s cap only bounds a state change nobody announced.
            self._call.wait_for(lambda call: not call.digits.empty() or call.is_ended, min(left, 1.0))

    def record(self, max_seconds: float, stop_digits: str = "#") -> bytes:
        heard = bytearray()
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline and self.is_live():
            heard += self._call.read_audio(FRAME_BYTES, blocking=False)
            if self._stop_digit_pressed(stop_digits):
                break
            time.sleep(FRAME_SECONDS)
        return bytes(heard)

    def hang_up(self) -> None:
        self._call.hangup()

    def _stop_digit_pressed(self, stop_digits: str) -> bool:
        digits = self._call.digits
        with digits.mutex:
            if digits.queue and digits.queue[0] in stop_digits:
                digits.queue.popleft()
                return True
        return False

    def _senders(self) -> list[HardenedRTPClient]:
        return [c for c in self._call.RTPClients if isinstance(c, HardenedRTPClient)]

    def _require_live(self) -> None:
        if not self.is_live():
            raise CallEnded(self._call.number)

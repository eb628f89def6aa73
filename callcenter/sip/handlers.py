"""Minimal call flows used until (or unless) the IVR flow engine provides its own handlers."""

from __future__ import annotations

from callcenter.domain.types import LegStatus
from callcenter.ivr.media import CallEnded, CallMedia, LegDecided
from callcenter.service.ports import LegOrder

__all__ = ["KEY_WAIT_SECONDS", "hold_line", "press_one_to_acknowledge"]

HOLD_SECONDS = 600.0
KEY_WAIT_SECONDS = 20.0
KEY_OUTCOMES = {"1": LegStatus.ACKNOWLEDGED, "2": LegStatus.DECLINED}


def hold_line(media: CallMedia) -> None:
    """Inbound: keep the household's line open (help is being called) until it hangs up."""
    try:
        while media.next_digit(HOLD_SECONDS) is not None:
            pass
    except CallEnded:
        return


def press_one_to_acknowledge(order: LegOrder, media: CallMedia, decided: LegDecided) -> LegStatus:
    """Alert: wait for a key; 1 = coming, 2 = cannot come, nothing = answered without a key."""
    try:
        while (digit := media.next_digit(KEY_WAIT_SECONDS)) is not None:
            if digit in KEY_OUTCOMES:
                decided(KEY_OUTCOMES[digit], f"pressed {digit}")
                return KEY_OUTCOMES[digit]
    except CallEnded:
        pass
    return LegStatus.ANSWERED_WITHOUT_KEY

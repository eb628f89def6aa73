"""Press rate limit per line: which presses of a household's key count, and when a press follows
too closely on a closed incident. Pure: the line's recent counted presses and ``now`` come in."""

from __future__ import annotations

from datetime import datetime, timedelta

from callcenter.domain.policy import PressLimit

__all__ = ["MINUTE", "count_press", "within_cooldown"]

MINUTE = timedelta(minutes=1)


def count_press(recent: tuple[datetime, ...], now: datetime,
                limit: PressLimit) -> tuple[bool, tuple[datetime, ...]]:
    """Whether a press at ``now`` counts, and the line's counted presses of the last minute after it.

    A sliding minute: at most ``limit.counted_per_minute`` counted presses in any 60 s, so a stuck
    key climbs no faster than a person pressing on purpose, and a burst of real presses still counts.
    """
    kept = tuple(t for t in recent if now - t < MINUTE)
    if len(kept) >= limit.counted_per_minute:
        return False, kept
    return True, (*kept, now)


def within_cooldown(closed_at: datetime | None, now: datetime, limit: PressLimit) -> bool:
    """A press this soon after the household's last incident closed is flagged for the operators."""
    return closed_at is not None and now - closed_at <= limit.cooldown_after_close

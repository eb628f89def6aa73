"""What a final SIP response to an alert call means for the alert leg (pure)."""

from __future__ import annotations

from callcenter.domain.types import LegStatus

__all__ = ["final_response_outcome"]

# A rejected call is "busy" and gets redialled: a neighbour who declines a ringing phone has not
# said "I cannot come" (only pressing 2 says that).
BUSY_CODES = frozenset({486, 600, 603})
NO_ANSWER_CODES = frozenset({408, 480, 487})  # 487: we cancelled it after the ring timeout


def final_response_outcome(code: int) -> LegStatus:
    if code in BUSY_CODES:
        return LegStatus.BUSY
    if code in NO_ANSWER_CODES:
        return LegStatus.NO_ANSWER
    return LegStatus.FAILED

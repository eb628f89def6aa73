"""The real clock: the ``Clock`` port (callcenter/service/ports.py) on the system's time, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["SystemClock"]


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

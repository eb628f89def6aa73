"""A SIP-like path for failover tests: registration and trunk state set by the test."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from callcenter.channels.errors import PathDown
from callcenter.service.ports import LegOrder


@dataclass
class FakeSipPath:
    name: str = "sip"
    survives_restart: bool = False
    registered: bool = True
    trunk_refuses: bool = False  # the trunk answers 503 to every INVITE
    hold: bool = False  # sends wait (all trunk channels busy) until placed or released
    orders: list[LegOrder] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _generation: int = 0

    def send(self, order: LegOrder) -> str:
        with self._cond:
            generation = self._generation
            while self.hold and generation == self._generation:
                self._cond.wait(timeout=0.2)
            if generation != self._generation:
                raise PathDown("sip: released while waiting for a trunk channel")
            if not self.registered:
                raise PathDown("sip: registration lost")
            if self.trunk_refuses:
                raise PathDown("sip: trunk answered 503 Service Unavailable")
            self.orders.append(order)
            return f"sip-{len(self.orders)}"

    def is_healthy(self) -> bool:
        return self.registered  # a refusing trunk shows only when a call is tried

    def release_pending(self) -> int:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()
        return 0

    def sent_to(self) -> list[str]:
        with self._cond:
            return [o.recipient.phone for o in self.orders]

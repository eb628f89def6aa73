"""The cyclic garbage collector, set for a process that must answer within a second under load.

A full collection walks every tracked object while holding the interpreter lock, so every thread
stops: in a 1,000-press flood the process holds ~450,000 of them, and with CPython's defaults a
full collection ran every ~10 s and took 300-600 ms each time (docs/benchmarks.md), which is where
households' INVITEs waited. Almost all of our garbage is freed by reference counting; the
collector is only there for cycles. So, once start-up is done:

- what start-up built (modules, classes, SQL metadata, the app) is frozen: never scanned again;
- the young generation is collected after 20,000 net allocations instead of 700, which makes full
  collections rare (none during a 1,000-press flood) while a young one mostly stays in milliseconds
  (50,000 was tried: young collections then took up to 311 ms).
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "settle_after_start_up"]

YOUNG_THRESHOLD = 20_000  # CPython's default is 700


def settle_after_start_up() -> None:
    """Collect once, freeze what survived, and space out later collections. Call when wired and started."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)

"""The cyclic garbage collector, tuned for a long-running server holding thousands of sockets.

CPython's default thresholds (700, 10, 10) run a young collection every 700 net container
allocations; whatever is alive at that moment (a request's rows, a message in flight) is promoted,
and once promotions reach a quarter of the old generation a *full* collection walks every object
the process holds. With B2's 2,000 chat sockets that is half a million objects: 14 full
collections of 160-250 ms each during one B2 run, every one a stall of the event loop that every
socket waiting on it sees (docs/performance.md). A larger first threshold collects the young
generation less often, so far fewer short-lived objects live long enough to be promoted; freezing
what startup built (modules, settings, compiled statements, the app) takes it out of every later
collection. Reference counting frees everything that is not in a cycle either way; a cycle waits
at most one young collection longer.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import Histogram

DEFAULT_THRESHOLDS = (50_000, 20, 10)


def tune(thresholds: tuple[int, int, int] = DEFAULT_THRESHOLDS) -> int:
    """Call once the server has started: what exists now lives as long as the process.
    Returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
    return gc.get_freeze_count()


class PauseRecorder:
    """Observes every collection's duration into a histogram labelled by generation: the
    collector's pauses are event-loop stalls, so an operator should see them."""

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram
        self._started = 0.0

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            elapsed = time.perf_counter() - self._started
            self.histogram.labels(str(info["generation"])).observe(elapsed)

    def install(self) -> None:
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def remove(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

"""Which event loop `serve` runs on: uvloop where it is installed, unless configured otherwise."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable

from hub.settings import Settings


def event_loop_of(settings: Settings) -> str:
    """uvloop unless configured otherwise or not installed (it has no Windows build): with
    2,000 chat visitors it took a third off the hub's message delivery p99 (docs/performance.md).
    `event_loop = "uvloop"` insists on it (an ImportError if it is missing)."""
    if settings.event_loop != "auto":
        return settings.event_loop
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def loop_factory(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop]:
    """For asyncio.Runner; the benchmarks' baseline servers take the same loop as the hub."""
    if event_loop_of(settings) == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop

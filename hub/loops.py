"""Background loops: run a step on a timer or when kicked, back off on errors, stop on cancel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from hub.context import Hub

log = logging.getLogger(__name__)


async def run_loop(
    hub: Hub, name: str, step: Callable[[bool], Awaitable[object]], *, interval_s: float
) -> None:
    """Call `step(kicked)` every `interval_s`, or at once after `hub.kick(name)`.

    Failures are logged and retried with a capped exponential backoff. At shutdown a
    loop between steps is cancelled at once and one inside a step may finish it (hub/shutdown.py).
    """
    kicked = hub.kicks.setdefault(name, asyncio.Event())
    backoff = interval_s
    while not hub.shutdown.requested:
        was_kicked = kicked.is_set()
        kicked.clear()
        try:
            with hub.shutdown.step():
                await step(was_kicked)
            backoff = interval_s
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s loop failed; retrying in %.1fs", name, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(kicked.wait(), timeout=interval_s)

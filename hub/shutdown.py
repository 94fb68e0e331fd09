"""Stopping background tasks without cutting a transaction in half."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any


class Shutdown:
    """Which background tasks are inside a step (a transaction, a send) right now: at shutdown
    the idle ones are cancelled at once and the busy ones may finish their step."""

    def __init__(self) -> None:
        self.requested = False
        self.busy: set[asyncio.Task[Any]] = set()

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        task = asyncio.current_task()
        if task is not None:
            self.busy.add(task)
        try:
            yield
        finally:
            if task is not None:
                self.busy.discard(task)

    async def stop(self, tasks: list[asyncio.Task[Any]], grace_s: float = 5.0) -> set[Any]:
        """Cancel idle tasks now, busy ones after `grace_s` if they have not returned; returns
        the tasks still running after a second grace period (stuck in uncancellable code)."""
        self.requested = True
        for task in tasks:
            if task not in self.busy:
                task.cancel()
        if not tasks:
            return set()
        _done, running = await asyncio.wait(tasks, timeout=grace_s)
        for task in running:
            task.cancel()
        if not running:
            return set()
        _done, stuck = await asyncio.wait(running, timeout=grace_s)
        return stuck

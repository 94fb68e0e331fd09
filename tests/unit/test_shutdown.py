"""Shutdown lets a background task finish the step in hand (a transaction cut by cancellation
left SQLite locked for its 30 s busy timeout and hung test teardowns), cancels idle tasks at
once, and never waits forever for a task that ignores cancellation."""

from __future__ import annotations

import asyncio

from hub.shutdown import Shutdown


async def test_a_busy_step_finishes_and_an_idle_task_is_cancelled_at_once() -> None:
    shutdown = Shutdown()
    committed = asyncio.Event()
    inside = asyncio.Event()
    release = asyncio.Event()

    async def busy() -> None:
        while not shutdown.requested:
            with shutdown.step():
                inside.set()
                await release.wait()  # e.g. a transaction waiting for the database
                committed.set()

    async def idle() -> None:
        await asyncio.Event().wait()

    tasks = [asyncio.create_task(busy()), asyncio.create_task(idle())]
    await inside.wait()
    stopping = asyncio.create_task(shutdown.stop(tasks, grace_s=5))
    await asyncio.sleep(0)  # let stop() cancel the idle task
    assert tasks[1].cancelled() or tasks[1].cancelling()
    release.set()
    assert await stopping == set()
    assert committed.is_set() and tasks[0].done() and not tasks[0].cancelled()


async def test_a_task_that_ignores_cancellation_is_reported_not_awaited_forever() -> None:
    shutdown = Shutdown()

    async def stubborn() -> None:
        for _ in range(3):  # swallows two cancellations (like a driver's cleanup that hangs)
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        stuck = await shutdown.stop([task], grace_s=0.2)
    assert stuck == {task}
    task.cancel()  # the third cancellation ends it
    await asyncio.wait([task])

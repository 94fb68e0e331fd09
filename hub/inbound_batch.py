"""Group commit for inbound contacts: what arrives while one batch commits goes in the next.

Each caller still gets its answer only after its contact is committed (a webhook's 200 still
means "durably stored"); what changes is that a burst of 32 webhooks costs one transaction, not
32 racing for the database (on SQLite, for its single write lock, whose busy handler sleeps).
No batch waits for company: a lone contact is stored at once, a burst forms batches by itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hub.actions.receive_batch import Pending, Received, do_receive_batch
from hub.context import Hub

log = logging.getLogger(__name__)

Single = Callable[[Pending], Awaitable[Received]]


@dataclass(slots=True)
class _Waiting:
    item: Pending
    future: asyncio.Future[Received]


class InboundBatcher:
    """One per hub; a drain task exists only while contacts wait (no background loop to own)."""

    def __init__(self, hub: Hub, single: Single, max_batch: int) -> None:
        self.hub = hub
        self.single = single  # the one-contact path, for a batch that failed as a whole
        self.max_batch = max(1, max_batch)
        self._waiting: list[_Waiting] = []
        self._task: asyncio.Task[None] | None = None

    async def receive(self, item: Pending) -> Received:
        future: asyncio.Future[Received] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="inbound-batch")
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = (
                self._waiting[: self.max_batch],
                self._waiting[self.max_batch :],
            )
            try:
                await self._store(batch)
            except BaseException as exc:  # cancelled at shutdown: nobody may wait forever
                for w in batch:
                    _settle(w.future, exc)
                raise

    async def _store(self, batch: list[_Waiting]) -> None:
        self.hub.metrics.receive_batch.observe(len(batch))
        try:
            async with self.hub.transaction() as tx:
                outcomes = await do_receive_batch(self.hub, tx, [w.item for w in batch])
        except Exception as exc:
            # A concurrent writer (another process) won a unique key, or the database failed:
            # each contact goes again on its own, so one cannot fail the others.
            log.info("inbound batch of %d failed (%s); storing one by one", len(batch), exc)
            await asyncio.gather(*(self._one(w) for w in batch))
            return
        for w, outcome in zip(batch, outcomes, strict=True):
            _settle(w.future, outcome)

    async def _one(self, w: _Waiting) -> None:
        try:
            _settle(w.future, await self.single(w.item))
        except Exception as exc:
            _settle(w.future, exc)


def _settle(future: asyncio.Future[Received], outcome: Received | BaseException) -> None:
    if future.done():  # its caller went away (cancelled); the contact is stored all the same
        return
    if isinstance(outcome, asyncio.CancelledError):
        future.cancel()
    elif isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)

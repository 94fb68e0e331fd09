"""The offer fence: an `offer` never reaches a console after that interaction's `offer.revoked`,
`interaction.assigned` or `interaction.updated`, although offers travel in a consumer group of
their own (agent_console/broadcaster.py) and may be emitted by another node than those events.

The offers lane holds the fence for an interaction from just before it re-reads that the offer
is still open until its emit has returned. Before emitting one of those events, the broadcaster
waits, after it has read the event from the bus, until nobody holds the fence for its interaction.
Either the wait saw the hold, and the event is emitted after the offer; or the hold began after
the wait, so the offer's re-read ran after the commit that caused the event (an event is
published only after its commit) and found the offer closed: the offer is not emitted.

`LocalFence` serves one process (the in-memory bus); `RedisFence` every process sharing a Redis.
A hold lasts one query and one emit. A process that dies holding one leaves a Redis key that
expires after `FENCE_TTL_S`, and a waiter never waits longer than that. While Redis cannot be
reached the fence is skipped (logged), never an emit: the re-read alone still drops any offer
closed before it, and those emits travel through Redis too.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from hub.context import Hub

log = logging.getLogger(__name__)

FENCE_TTL_S = 5.0
FENCE = "offer_fence"  # hub.resources key: one fence per hub, shared by its broadcasters


class OfferFence(Protocol):
    def holding(self, interaction_id: str) -> AbstractAsyncContextManager[None]:
        """Around re-reading that an offer is open and emitting it."""
        ...

    async def wait_clear(self, interaction_ids: Collection[str]) -> None:
        """Until no offer of these interactions is being emitted (at most the TTL)."""
        ...


def offer_fence(hub: Hub) -> OfferFence:
    fence: OfferFence | None = hub.resources.get(FENCE)
    if fence is None:
        fence = hub.resources[FENCE] = (
            RedisFence(hub.redis, hub.settings.redis_prefix)
            if hub.redis is not None
            else LocalFence()
        )
    return fence


def _gave_up(keys: Collection[str], ttl_s: float) -> None:
    log.warning(
        "an offer of %s still being emitted after %.0f s (a process died emitting it?); going on",
        ", ".join(sorted(keys)),
        ttl_s,
    )


class LocalFence:
    def __init__(self, ttl_s: float = FENCE_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._held: dict[str, int] = {}
        self._released: dict[str, asyncio.Event] = {}

    @asynccontextmanager
    async def holding(self, interaction_id: str) -> AsyncIterator[None]:
        self._held[interaction_id] = self._held.get(interaction_id, 0) + 1
        try:
            yield
        finally:
            left = self._held.pop(interaction_id) - 1
            if left:
                self._held[interaction_id] = left
            else:
                released = self._released.pop(interaction_id, None)
                if released is not None:
                    released.set()

    async def wait_clear(self, interaction_ids: Collection[str]) -> None:
        deadline = time.monotonic() + self.ttl_s
        for key in interaction_ids:
            while key in self._held:
                released = self._released.setdefault(key, asyncio.Event())
                try:
                    await asyncio.wait_for(released.wait(), deadline - time.monotonic())
                except TimeoutError:
                    _gave_up([key], self.ttl_s)
                    return


class RedisFence:
    """A set per interaction (`<prefix>offering:<id>`) with a token per hold, expiring after the
    TTL: two nodes may emit offers of one interaction at once (a revoked one, its successor)."""

    def __init__(
        self, redis: Any, prefix: str, ttl_s: float = FENCE_TTL_S, poll_s: float = 0.002
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.poll_s = poll_s

    def _key(self, interaction_id: str) -> str:
        return f"{self.prefix}offering:{interaction_id}"

    @asynccontextmanager
    async def holding(self, interaction_id: str) -> AsyncIterator[None]:
        key, token = self._key(interaction_id), secrets.token_hex(8)
        held = False
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.sadd(key, token)
                pipe.pexpire(key, int(self.ttl_s * 1000))
                await pipe.execute()
            held = True
        except Exception:  # the emit goes on: the fence must never cost one
            log.warning("offer fence of %s not taken (Redis unreachable?)", interaction_id)
        try:
            yield
        finally:
            if held:
                try:
                    await self.redis.srem(key, token)
                except Exception:  # the key expires after the TTL; waiters wait until then
                    log.warning("could not release the offer fence of %s", interaction_id)

    async def wait_clear(self, interaction_ids: Collection[str]) -> None:
        if not interaction_ids:
            return
        keys = [self._key(i) for i in dict.fromkeys(interaction_ids)]
        deadline = time.monotonic() + self.ttl_s
        delay = self.poll_s
        while True:
            try:
                if not await self.redis.exists(*keys):
                    return
            except Exception:  # the emits go on: the fence must never cost one
                log.warning("offer fence not checked (Redis unreachable?)")
                return
            if time.monotonic() >= deadline:
                _gave_up(interaction_ids, self.ttl_s)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

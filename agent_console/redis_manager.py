"""python-socketio's Redis client manager, with the subscriber's reconnect wait capped.

Every emit to a console travels through the Redis channel, even to a socket on the same process.
The stock listener doubles its wait after each failed reconnect up to 60 s, so after a 30 s Redis
outage consoles stayed deaf for up to 30 s more (measured in tests/faults/test_redis_outage.py).
Here the wait grows to `max_wait_s` only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import socketio


class SteadyRedisManager(socketio.AsyncRedisManager):
    max_wait_s = 2.0

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        wait = 0.25
        subscribed = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    await self.pubsub.subscribe(self.channel)
                    subscribed, wait = True, 0.25
                async for message in self.pubsub.listen():
                    yield message
            except Exception as exc:
                self._get_logger().warning(
                    "Socket.IO Redis channel lost (%s); resubscribing in %.2f s", exc, wait
                )
                subscribed = False
                await asyncio.sleep(wait)
                wait = min(wait * 2, self.max_wait_s)

"""RoutingState Protocol: cluster-wide leases and rate counters (in-memory or Redis).

Correctness of offers does not rest on these: every routing pass is fenced by a row lock in the
database (see hub/actions/route_interactions.py). The lease keeps the periodic pass to one process
at a time so processes do not queue up on that row lock; the counters back rate limits.
"""

from __future__ import annotations

import time
from typing import Any, Protocol


class RoutingState(Protocol):
    async def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        """Take or extend the lease `name` for `owner`; False while someone else holds it."""
        ...

    async def release(self, name: str, owner: str) -> None: ...

    async def hit(self, key: str, window_s: float, amount: int = 1) -> int:
        """Count `amount` hits on `key` in the current fixed window and return the window's
        total (amount 0 reads it, a negative amount refunds)."""
        ...


class InMemoryRoutingState:
    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._leases: dict[str, tuple[str, float]] = {}
        self._hits: dict[str, tuple[int, float]] = {}

    async def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        now = self._clock()
        holder = self._leases.get(name)
        if holder and holder[0] != owner and holder[1] > now:
            return False
        self._leases[name] = (owner, now + ttl_s)
        if len(self._leases) > 100_000:  # bound memory: one-shot claims (replay guards) expire
            self._leases = {k: v for k, v in self._leases.items() if v[1] > now}
        return True

    async def release(self, name: str, owner: str) -> None:
        holder = self._leases.get(name)
        if holder and holder[0] == owner:
            del self._leases[name]

    async def hit(self, key: str, window_s: float, amount: int = 1) -> int:
        now = self._clock()
        count, until = self._hits.get(key, (0, 0.0))
        if until <= now:
            count, until = 0, now + window_s
        if amount == 0:
            return count
        count = max(0, count + amount)
        self._hits[key] = (count, until)
        if len(self._hits) > 100_000:  # bound memory: drop expired windows
            self._hits = {k: v for k, v in self._hits.items() if v[1] > now}
        return count


_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_HIT = """
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
if n <= 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
if n == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class RedisRoutingState:
    """Leases and counters as Lua scripts, so check-and-set is one atomic step on the server."""

    def __init__(self, redis: Any, prefix: str = "crmhub:") -> None:
        self.redis = redis
        self.prefix = prefix
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._hit = redis.register_script(_HIT)

    async def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        key = f"{self.prefix}lease:{name}"
        return bool(await self._acquire(keys=[key], args=[owner, max(1, int(ttl_s * 1000))]))

    async def release(self, name: str, owner: str) -> None:
        await self._release(keys=[f"{self.prefix}lease:{name}"], args=[owner])

    async def hit(self, key: str, window_s: float, amount: int = 1) -> int:
        window_ms = max(1, int(window_s * 1000))
        bucket = int(time.time() * 1000) // window_ms
        redis_key = f"{self.prefix}hits:{key}:{bucket}"
        return int(await self._hit(keys=[redis_key], args=[window_ms, amount]))

"""Leases and rate counters: the in-process and the Redis implementation behave the same."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from hub.routing_state import InMemoryRoutingState, RedisRoutingState, RoutingState

pytestmark = pytest.mark.redis


@pytest.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[RoutingState]:
    if request.param == "memory":
        yield InMemoryRoutingState()
        return
    client = aioredis.from_url(request.getfixturevalue("redis_url"))
    yield RedisRoutingState(client, prefix=request.getfixturevalue("redis_prefix"))
    await client.aclose()


async def test_one_owner_at_a_time(state: RoutingState) -> None:
    assert await state.acquire("ticker", "a", 30)
    assert await state.acquire("ticker", "a", 30)  # renewal by the owner
    assert not await state.acquire("ticker", "b", 30)
    await state.release("ticker", "b")  # not the owner: no effect
    assert not await state.acquire("ticker", "b", 30)
    await state.release("ticker", "a")
    assert await state.acquire("ticker", "b", 30)


async def test_counter_counts_within_a_window(state: RoutingState) -> None:
    counts = [await state.hit("login:x", 60) for _ in range(3)]
    assert counts == [1, 2, 3]
    assert await state.hit("login:y", 60) == 1


async def test_a_counter_is_read_without_counting(state: RoutingState) -> None:
    assert await state.hit("login:z", 60, amount=0) == 0
    assert await state.hit("login:z", 60) == 1
    assert await state.hit("login:z", 60, amount=0) == 1
    assert await state.hit("login:z", 60, amount=2) == 3
    assert await state.hit("login:z", 60, amount=-3) == 0
    assert await state.hit("login:z", 60) == 1

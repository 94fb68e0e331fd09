"""One contract, two offer fences (agent_console/offer_fence.py): in process, and on the real Redis
shared by every hub process. A wait goes on only once no offer of its interactions is being
emitted, or once a hold a dead process left behind has expired."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from agent_console.offer_fence import LocalFence, OfferFence, RedisFence

TTL_S = 0.5


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def fences(request: pytest.FixtureRequest) -> AsyncIterator[tuple[OfferFence, OfferFence]]:
    """Two handles on one fence (two hub processes share Redis; in memory they share one)."""
    if request.param == "memory":
        fence = LocalFence(ttl_s=TTL_S)
        yield fence, fence
        return
    prefix = request.getfixturevalue("redis_prefix")
    url = request.getfixturevalue("redis_url")
    a, b = aioredis.from_url(url), aioredis.from_url(url)
    yield RedisFence(a, prefix, ttl_s=TTL_S), RedisFence(b, prefix, ttl_s=TTL_S)
    await a.aclose()
    await b.aclose()


async def still_waiting(waiter: asyncio.Task[None], for_s: float = 0.2) -> bool:
    """A wait that must not end: give it a fair chance to, well below the TTL."""
    done, _ = await asyncio.wait({waiter}, timeout=for_s)
    return not done


async def test_nothing_held_means_no_wait(fences: tuple[OfferFence, OfferFence]) -> None:
    a, _ = fences
    await asyncio.wait_for(a.wait_clear(["i1", "i2"]), timeout=0.2)
    await asyncio.wait_for(a.wait_clear([]), timeout=0.2)


async def test_a_wait_lasts_until_the_hold_ends(fences: tuple[OfferFence, OfferFence]) -> None:
    a, b = fences
    async with a.holding("i1"):
        other = asyncio.create_task(b.wait_clear(["i2"]))  # another interaction: no wait
        await asyncio.wait_for(other, timeout=0.2)
        waiter = asyncio.create_task(b.wait_clear(["i2", "i1"]))
        assert await still_waiting(waiter)
    await asyncio.wait_for(waiter, timeout=TTL_S / 2)


async def test_two_holds_of_one_interaction_both_end_first(
    fences: tuple[OfferFence, OfferFence],
) -> None:
    a, b = fences
    first = a.holding("i1")
    await first.__aenter__()
    async with b.holding("i1"):
        waiter = asyncio.create_task(a.wait_clear(["i1"]))
        assert await still_waiting(waiter, 0.1)
    assert await still_waiting(waiter, 0.1)  # the first hold still stands
    await first.__aexit__(None, None, None)
    await asyncio.wait_for(waiter, timeout=TTL_S / 2)


async def test_a_hold_never_released_ends_after_the_ttl(
    fences: tuple[OfferFence, OfferFence],
) -> None:
    """The process holding it died: the waiter goes on after the TTL, it does not hang."""
    a, b = fences
    dead = a.holding("i1")
    await dead.__aenter__()  # ... and its process never gets to the end
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(b.wait_clear(["i1"]), timeout=TTL_S * 4)
    assert asyncio.get_running_loop().time() - started >= TTL_S * 0.8
    await dead.__aexit__(None, None, None)

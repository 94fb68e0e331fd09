"""One contract, two buses: the in-process default and Redis Streams on the real server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from hub.bus import EventBus, InMemoryBus, RedisBus
from hub.events import InteractionQueued, OfferMade

pytestmark = pytest.mark.redis


@pytest.fixture(params=["memory", "redis"])
async def bus_pair(request: pytest.FixtureRequest) -> AsyncIterator[tuple[EventBus, EventBus]]:
    """Two handles on one bus (two hub processes share Redis; in memory they share the object)."""
    if request.param == "memory":
        bus = InMemoryBus(claim_after_s=0.2)
        yield bus, bus
        return
    prefix = request.getfixturevalue("redis_prefix")
    url = request.getfixturevalue("redis_url")
    a, b = aioredis.from_url(url), aioredis.from_url(url)
    stream = f"{prefix}events"
    yield (
        RedisBus(a, stream=stream, claim_after_s=0.2),
        RedisBus(b, stream=stream, claim_after_s=0.2),
    )
    await a.aclose()
    await b.aclose()


def queued(n: int) -> InteractionQueued:
    return InteractionQueued(interaction_id=f"i{n}", queue_id="support", reason="test")


async def test_events_round_trip_in_order(bus_pair: tuple[EventBus, EventBus]) -> None:
    bus, _ = bus_pair
    await bus.ensure_group("g")
    sent = [queued(n) for n in range(5)] + [
        OfferMade(offer_id="o", interaction_id="i", agent_id="a", expires_at=12.5)
    ]
    for event in sent:
        await bus.publish(event)
    got = await bus.read("g", "c1", count=10, block_s=0.5)
    assert [d.event for d in got] == sent


async def test_each_group_gets_every_event_and_consumers_share_a_group(
    bus_pair: tuple[EventBus, EventBus],
) -> None:
    a, b = bus_pair
    for group in ("routing", "console"):
        await a.ensure_group(group)
    for n in range(4):
        await a.publish(queued(n))
    first = await a.read("routing", "node-a", count=2, block_s=0.5)
    second = await b.read("routing", "node-b", count=10, block_s=0.5)
    assert len(first) == 2 and len(second) == 2
    assert {d.event.event_id for d in first}.isdisjoint({d.event.event_id for d in second})
    console = await b.read("console", "node-b", count=10, block_s=0.5)
    assert len(console) == 4


async def test_unacked_events_are_redelivered_to_another_consumer(
    bus_pair: tuple[EventBus, EventBus],
) -> None:
    a, b = bus_pair
    await a.ensure_group("g")
    await a.publish(queued(1))
    taken = await a.read("g", "dies", block_s=0.5)
    assert len(taken) == 1  # ... and "dies" never acks
    again = await b.read("g", "survivor", block_s=1.0)
    while not again:
        again = await b.read("g", "survivor", block_s=1.0)
    assert again[0].event == taken[0].event
    await b.ack("g", [again[0].id])
    assert await b.read("g", "survivor", block_s=0.3) == []


async def test_acked_events_are_not_redelivered(bus_pair: tuple[EventBus, EventBus]) -> None:
    a, b = bus_pair
    await a.ensure_group("g")
    await a.publish(queued(1))
    taken = await a.read("g", "c1", block_s=0.5)
    await a.ack("g", [d.id for d in taken])
    assert await b.read("g", "c2", block_s=0.5) == []


async def test_a_group_created_later_starts_at_new_events(
    bus_pair: tuple[EventBus, EventBus],
) -> None:
    a, _ = bus_pair
    await a.ensure_group("early")
    await a.publish(queued(1))
    await a.ensure_group("late")
    await a.publish(queued(2))
    late = await a.read("late", "c", block_s=0.5)
    assert [d.event.interaction_id for d in late] == ["i2"]  # type: ignore[attr-defined]


async def test_read_blocks_until_an_event_arrives(bus_pair: tuple[EventBus, EventBus]) -> None:
    import asyncio

    a, b = bus_pair
    await a.ensure_group("g")
    reader = asyncio.create_task(b.read("g", "c", block_s=5.0))
    await asyncio.sleep(0)  # let the reader block first
    await a.publish(queued(7))
    got = await asyncio.wait_for(reader, timeout=5)
    assert [d.event.interaction_id for d in got] == ["i7"]  # type: ignore[attr-defined]


async def test_a_redis_restarted_empty_gets_its_groups_back(
    redis_url: str, redis_prefix: str
) -> None:
    """A restart without persistence drops the stream and its groups; a reader that cached
    "group exists" failed with NOGROUP on every read until the process restarted."""
    client = aioredis.from_url(redis_url)
    bus = RedisBus(client, stream=f"{redis_prefix}events", claim_after_s=0.2)
    try:
        await bus.ensure_group("g")
        first, second = queued(1), queued(2)
        await bus.publish(first)
        assert [d.event for d in await bus.read("g", "c", block_s=0.2)] == [first]
        await client.delete(f"{redis_prefix}events")  # what a restart with nothing saved leaves
        assert await bus.read("g", "c", block_s=0.2) == []
        await bus.publish(second)
        assert [d.event for d in await bus.read("g", "c", block_s=0.2)] == [second]
    finally:
        await client.aclose()


async def test_backlog_counts_what_a_group_has_not_acknowledged(
    bus_pair: tuple[EventBus, EventBus],
) -> None:
    """crmhub_bus_backlog: how far a consumer group (the broadcaster, routing) is behind."""
    a, b = bus_pair
    await a.ensure_group("lagging")
    assert await a.backlog("lagging") == 0
    for n in range(3):
        await a.publish(queued(n))
    assert await b.backlog("lagging") == 3  # none read yet
    got = await a.read("lagging", "c1", count=2, block_s=0.5)
    assert await a.backlog("lagging") == 3  # two delivered, not acknowledged; one unread
    await a.ack("lagging", [d.id for d in got])
    assert await b.backlog("lagging") == 1
    rest = await a.read("lagging", "c1", count=10, block_s=0.5)
    await a.ack("lagging", [d.id for d in rest])
    assert await a.backlog("lagging") == 0


async def test_a_consumer_reports_its_backlog_after_each_batch() -> None:
    """consume()'s wiring of the metric (the bus side is the contract test above)."""
    import asyncio

    from hub.bus import consume
    from hub.events import Event
    from hub.shutdown import Shutdown

    bus = InMemoryBus()
    await bus.ensure_group("metered")
    for n in range(3):
        await bus.publish(queued(n))
    reported: list[int] = []
    caught_up = asyncio.Event()

    async def handler(events: list[Event]) -> None:
        return None

    def on_backlog(n: int) -> None:
        reported.append(n)
        if n == 0:
            caught_up.set()

    shutdown = Shutdown()
    task = asyncio.create_task(
        consume(
            bus, "metered", "c1", handler, block_s=0.1, shutdown=shutdown, on_backlog=on_backlog
        )
    )
    await asyncio.wait_for(caught_up.wait(), timeout=10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert reported[-1] == 0 and await bus.backlog("metered") == 0

"""The outbox relay publishes events their writer could not, and never one the writer still is
publishing: under load a commit can take longer than the relay's grace period, and the relay used
to publish such an event a second time (B2 saw 79 duplicate `message.created` of 4,000)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from hub.app import build_hub
from hub.bus import Delivery, EventBus
from hub.context import Hub
from hub.events import Event, InteractionQueued
from hub.relays import RELAY_GRACE_S, relay_events
from tests.support.clock import ManualClock

pytestmark = pytest.mark.postgres


class GatedBus:
    """An EventBus whose next publish waits at a gate: the writer stalled between commit and
    publish (a slow Redis, a busy loop)."""

    def __init__(self, inner: EventBus) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()
        self.fail = False
        self._gated = False

    def hold_next(self) -> None:
        self._gated = True

    async def ensure_group(self, group: str) -> None:
        await self.inner.ensure_group(group)

    async def publish(self, event: Event) -> None:
        if self._gated:
            self._gated = False
            self.waiting.set()
            await self.gate.wait()
            if self.fail:
                raise ConnectionError("bus down")
        await self.inner.publish(event)

    async def read(
        self, group: str, consumer: str, *, count: int = 100, block_s: float = 1.0
    ) -> list[Delivery]:
        return await self.inner.read(group, consumer, count=count, block_s=block_s)

    async def ack(self, group: str, ids: Sequence[str]) -> None:
        await self.inner.ack(group, ids)

    async def backlog(self, group: str) -> int:
        return await self.inner.backlog(group)

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture
async def hub(db_url: str, make_settings: Callable[..., Any]) -> Any:
    clock = ManualClock(datetime.now(UTC))  # the outbox stamps rows with the system time
    hub = build_hub(make_settings(database_url=db_url), clock=clock)
    await hub.store.migrate()
    gated = GatedBus(hub.bus)
    hub.bus = gated
    await gated.ensure_group("watch")
    yield hub, gated, clock
    await hub.store.close()


async def delivered(hub: Hub) -> list[str]:
    got = await hub.bus.read("watch", "c", block_s=0.01)
    await hub.bus.ack("watch", [d.id for d in got])
    return [d.event.event_id for d in got]


async def commit_one(hub: Hub) -> Event:
    event = InteractionQueued(interaction_id="i-1", queue_id="support")
    async with hub.transaction() as tx:
        tx.emit(event)
    return event


async def test_an_event_the_writer_is_still_publishing_is_not_published_again(hub: Any) -> None:
    hub, bus, clock = hub
    bus.hold_next()
    writer = asyncio.create_task(commit_one(hub))
    await bus.waiting.wait()  # committed, publish in progress
    clock.advance(RELAY_GRACE_S * 3)  # the relay thinks the writer has long given up
    assert await relay_events(hub) == 0
    bus.gate.set()
    event = await writer
    assert await relay_events(hub) == 0
    assert await delivered(hub) == [event.event_id]


async def test_an_event_whose_publish_failed_is_published_by_the_relay_once(hub: Any) -> None:
    hub, bus, clock = hub
    bus.hold_next()
    bus.fail = True
    writer = asyncio.create_task(commit_one(hub))
    await bus.waiting.wait()
    bus.gate.set()
    event = await writer  # the failure is logged, not raised: the commit stands
    assert await relay_events(hub) == 0  # still within the grace period
    clock.advance(RELAY_GRACE_S * 3)
    assert await relay_events(hub) == 1
    assert await relay_events(hub) == 0
    assert await delivered(hub) == [event.event_id]


async def test_published_events_are_marked_in_batches_not_after_every_commit(hub: Any) -> None:
    """Kicking the outbox loop after each commit ran an UPDATE transaction per commit."""
    from hub.context import SETTLE_BATCH

    hub, _bus, _clock = hub
    kicked = hub.kicks.setdefault("outbox", asyncio.Event())
    await commit_one(hub)
    assert not kicked.is_set()  # the loop's interval marks it
    async with hub.transaction() as tx:
        for n in range(SETTLE_BATCH):
            tx.emit(InteractionQueued(interaction_id=f"i-{n}", queue_id="support"))
    assert kicked.is_set()
    await hub.settle_published()
    assert await relay_events(hub) == 0

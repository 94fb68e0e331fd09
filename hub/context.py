"""The Hub: what every action needs (settings, store, bus, routing state, channels, clock)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import failpoints
from hub.bus import EventBus
from hub.events import Event
from hub.metrics import Metrics
from hub.models import OutboxEntry, utcnow
from hub.routing_state import RoutingState
from hub.settings import Settings
from hub.shutdown import Shutdown
from hub.store import Store

log = logging.getLogger(__name__)

# Published events are marked done in the outbox in batches: kicking the outbox loop after
# every publish ran an UPDATE transaction (and a relay scan) per committed transaction, a
# writer that never rested under a burst. Well inside the relay's 5 s grace period.
SETTLE_BATCH = 500
SETTLE_INTERVAL_S = 1.0


# One executemany per transaction: OutboxEntry objects through the unit of work cost a model
# construction and a flush step per event (two or three in every transaction).
OUTBOX_INSERT = sa.insert(OutboxEntry.__table__)  # type: ignore[attr-defined]


def outbox_rows(events: list[Event], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "id": event.event_id,
            "kind": "event",
            "payload": event.to_wire(),
            "done": False,
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": "",
            "created_at": now,
        }
        for event in events
    ]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Tx:
    """One transaction plus the events it will emit once it has committed."""

    session: AsyncSession
    events: list[Event] = field(default_factory=list)

    def emit(self, event: Event) -> None:
        self.events.append(event)


@dataclass
class Hub:
    settings: Settings
    store: Store
    bus: EventBus
    routing_state: RoutingState
    metrics: Metrics
    clock: Callable[[], datetime] = system_clock
    channels: dict[str, Any] = field(default_factory=dict)  # channel name -> adapter with send()
    node_id: str = "node"
    resources: dict[str, Any] = field(default_factory=dict)  # clients owned by cleanup_ctx
    redis: Any = None  # redis.asyncio.Redis when configured (readiness checks, Socket.IO)
    kicks: dict[str, asyncio.Event] = field(default_factory=dict)  # wake background loops early
    # At shutdown, loops finish the step in hand (no transaction is cut) and idle ones stop.
    shutdown: Shutdown = field(default_factory=Shutdown)
    inflight: int = 0  # API and webhook requests being handled (admission control)
    inbound: Any = None  # hub.inbound_batch.InboundBatcher, made on first use
    _published: list[str] = field(default_factory=list)
    _unsettled: set[str] = field(default_factory=set)

    def now(self) -> datetime:
        return self.clock()

    def kick(self, name: str) -> None:
        event = self.kicks.get(name)
        if event is not None:
            event.set()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """Events go to the outbox inside the transaction and to the bus only after commit."""
        ids: list[str] = []
        try:
            async with self.store.transaction() as session:
                tx = Tx(session)
                yield tx
                ids = [event.event_id for event in tx.events]
                # Before the commit: the relay may read the rows the moment they are committed.
                self._unsettled.update(ids)
                if tx.events:
                    await session.execute(OUTBOX_INSERT, outbox_rows(tx.events, utcnow()))
        except BaseException:
            self._unsettled.difference_update(ids)
            raise
        failpoints.reach("tx.committed")
        await self.publish_committed(tx.events)

    async def publish_committed(self, events: list[Event]) -> None:
        for event in events:
            try:
                await self.bus.publish(event)
            except Exception:  # the outbox relay publishes it later
                self._unsettled.discard(event.event_id)
                log.warning("publish of %s failed; the outbox relay will retry", event.wire)
                continue
            self._published.append(event.event_id)
        if len(self._published) >= SETTLE_BATCH:
            self.kick("outbox")  # else the outbox loop marks them within SETTLE_INTERVAL_S

    def is_unsettled(self, event_id: str) -> bool:
        """This process is publishing the event, or published it and has not marked it yet: the
        relay must leave it alone however old it looks (a commit can outlast the grace period)."""
        return event_id in self._unsettled

    async def settle_published(self) -> None:
        """Mark what this process published as done in the outbox."""
        ids, self._published = self._published, []
        try:
            await self.mark_published(ids)
        except BaseException:
            self._published.extend(ids)
            raise
        self._unsettled.difference_update(ids)

    async def mark_published(self, ids: list[str]) -> None:
        if not ids:
            return
        async with self.store.transaction() as session:
            await session.exec(
                sa.update(OutboxEntry).where(OutboxEntry.id.in_(ids)).values(done=True)  # type: ignore[attr-defined]
            )

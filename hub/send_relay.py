"""Outbound sends: claim a batch in one statement, load it in three queries, send it with
`send_concurrency` sends in flight (each conversation's sends in order) while the next batch is
claimed, and record the outcomes in groups (hub/send_outcomes.py).

Before, each send cost a claim transaction, two reads and a finish transaction of its own, and a
batch was claimed only once the last send of the previous one had returned: B5 drained 52 msg/s
while the aiosqlite threads queued for SQLite's writer lock (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from channels.base import OutboundMessage, SendError
from hub import failpoints
from hub.call_connector import connect_agent
from hub.context import Hub
from hub.email_threading import conversations, email_threading
from hub.models import Interaction, Message, OutboxEntry
from hub.send_outcomes import OUTBOX, Outcome, OutcomeWriter

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 8
SEND_BATCH = 50
MAX_RETRY_S = 300


@dataclass
class Claimed:
    """A claimed outbox row and what its send needs."""

    entry: OutboxEntry
    # Past this, the claim could expire before the outcome is written and another process send
    # it too: such a row is left alone until it is claimed again.
    start_by: datetime
    message: Message | None = None
    interaction: Interaction | None = None
    conversation: list[Message] = field(default_factory=list)

    @property
    def key(self) -> str:
        """Sends with the same key go out one after the other (the customer reads them in order)."""
        return str(self.entry.payload.get("interaction_id") or self.entry.id)


async def relay_sends(hub: Hub) -> int:
    """Send every due outbound message through its channel adapter; returns how many were tried.

    Drains in batches until nothing is due. What was started is always recorded before this
    returns or raises; only a cancellation (shutdown past its grace) cuts sends short."""
    pipeline = _Pipeline(hub)
    failure: Exception | None = None
    total = 0
    try:
        try:
            while not hub.shutdown.requested:
                await pipeline.room_for_a_batch()
                entries = await claim_batch(hub)
                if entries:
                    pipeline.start(await load(hub, entries))
                total += len(entries)
                if len(entries) < SEND_BATCH:
                    break
        except Exception as exc:
            failure = exc
        await pipeline.finish()
    except asyncio.CancelledError:
        pipeline.cancel()
        raise
    if failure is not None:
        raise failure
    return total


async def claim_batch(hub: Hub, limit: int = SEND_BATCH) -> list[OutboxEntry]:
    """Claim up to `limit` due rows in one statement, oldest first.

    A compare-and-set, as the per-row claim before it: a row is claimed only while it is not done
    and due, and the claim moves it `send_claim_s` into the future. Of two processes racing for a
    row one UPDATE matches it: PostgreSQL re-checks the WHERE on a row another claim changed,
    SQLite has a single writer. SKIP LOCKED lets the loser take other rows instead of waiting."""
    now = hub.now()
    until = now + timedelta(seconds=hub.settings.send_claim_s)
    due = (
        sa.select(OUTBOX.c.id)
        .where(
            OUTBOX.c.kind.in_(("send", "connect")),
            OUTBOX.c.done.is_(False),
            OUTBOX.c.next_attempt_at <= now,
        )
        # Not also by created_at: SQLite would then read and sort every due row for each batch
        # (6 ms per claim with 10,000 due, holding the writer lock); ties come in index order.
        .order_by(OUTBOX.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claim = (
        sa.update(OUTBOX)
        .where(
            OUTBOX.c.id.in_(due),
            OUTBOX.c.done.is_(False),
            OUTBOX.c.next_attempt_at <= now,
        )
        .values(next_attempt_at=until)
        .returning(
            OUTBOX.c.id, OUTBOX.c.kind, OUTBOX.c.payload, OUTBOX.c.attempts, OUTBOX.c.created_at
        )
    )
    async with hub.store.transaction() as session:
        conn = await session.connection()
        rows = (await conn.execute(claim)).all()
    entries = [
        OutboxEntry(
            id=r.id,
            kind=r.kind,
            payload=r.payload,
            attempts=r.attempts,
            created_at=r.created_at,
            next_attempt_at=until,
        )
        for r in rows
    ]
    entries.sort(key=lambda e: (e.created_at, e.id))  # RETURNING keeps no order
    return entries


async def load(hub: Hub, entries: list[OutboxEntry]) -> list[Claimed]:
    """The batch's messages, interactions and email conversations: three queries per batch."""
    half = timedelta(seconds=hub.settings.send_claim_s / 2)
    items = [Claimed(entry, entry.next_attempt_at - half) for entry in entries]  # claimed until
    sends = [item for item in items if item.entry.kind != "connect"]
    if not sends:
        return items
    ids = {str(item.entry.payload.get("message_id", "")) for item in sends}
    async with hub.store.session() as session:
        messages = {
            m.id: m
            for m in (await session.exec(select(Message).where(col(Message.id).in_(ids)))).all()
        }
        wanted = {m.interaction_id for m in messages.values()}
        found = await session.exec(select(Interaction).where(col(Interaction.id).in_(wanted)))
        interactions = {it.id: it for it in found.all()}
        emails = {m.interaction_id for m in messages.values() if m.channel == "email"}
        threads = await conversations(session, emails)
    for item in sends:
        item.message = messages.get(str(item.entry.payload.get("message_id", "")))
        if item.message is not None:
            item.interaction = interactions.get(item.message.interaction_id)
            item.conversation = threads.get(item.message.interaction_id, [])
    return items


class _Pipeline:
    """The sends started by one relay_sends: in flight, or waiting for their conversation's
    previous send or for a free slot (`send_concurrency`)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.gate = asyncio.Semaphore(max(1, hub.settings.send_concurrency))
        self.outcomes = OutcomeWriter(hub)
        self.tasks: set[asyncio.Task[None]] = set()
        self.last: dict[str, asyncio.Task[None]] = {}  # each conversation's latest send
        self.progress = asyncio.Event()
        self.failures: list[BaseException] = []

    async def room_for_a_batch(self) -> None:
        """The next batch is claimed while half of this one is still to go: the sends never wait
        for a claim, and claimed rows are sent soon after their claim."""
        while len(self.tasks) > SEND_BATCH // 2:
            self.progress.clear()
            await self.progress.wait()

    def start(self, items: list[Claimed]) -> None:
        for item in items:
            task = asyncio.create_task(self._run(item, self.last.get(item.key)))
            self.last[item.key] = task
            self.tasks.add(task)
            task.add_done_callback(functools.partial(self._done, item.key))

    def _done(self, key: str, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if self.last.get(key) is task:
            del self.last[key]
        if not task.cancelled() and task.exception() is not None:
            self.failures.append(task.exception())  # type: ignore[arg-type]
        self.progress.set()

    async def _run(self, item: Claimed, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await asyncio.wait([before])  # its own failure is reported by itself
        async with self.gate:
            outcome = await deliver(self.hub, item)
        if outcome is not None:
            self.outcomes.add(outcome)

    async def finish(self) -> None:
        """Until every send started has returned and its outcome is written."""
        if self.tasks:
            await asyncio.wait(set(self.tasks))
        await self.outcomes.flush()
        if self.outcomes.first_retry is not None:
            # Wake the sender loop when the first retry is due, not at its next tick (2 s on).
            due_in = (self.outcomes.first_retry - self.hub.now()).total_seconds()
            asyncio.get_running_loop().call_later(max(0.0, due_in), self.hub.kick, "sender")
        if self.failures:
            raise self.failures[0]

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()


async def deliver(hub: Hub, item: Claimed) -> Outcome | None:
    """Send one claimed row; None when it must be left for a later claim."""
    if hub.now() >= item.start_by:
        log.warning("send %s waited past half its claim time; left for the next claim", item.key)
        return None
    if item.entry.kind == "connect":
        return await _connect(hub, item.entry)
    return await _send(hub, item)


async def _connect(hub: Hub, entry: OutboxEntry) -> Outcome:
    try:
        await connect_agent(hub, entry)
    except SendError as exc:
        hub.metrics.sends.labels("voice", "error").inc()
        return _failed(hub, entry, None, exc, str(exc))
    hub.metrics.sends.labels("voice", "connected").inc()
    return Outcome(entry.id, None, "sent")


async def _send(hub: Hub, item: Claimed) -> Outcome:
    entry, message, interaction = item.entry, item.message, item.interaction
    if message is None or interaction is None:
        return Outcome(entry.id, None, "failed", "message vanished")
    adapter = hub.channels.get(message.channel)
    if adapter is None:
        return Outcome(entry.id, message.id, "failed", f"no adapter for channel {message.channel}")
    outbound = OutboundMessage(
        channel=message.channel,
        # A chat answered by email or SMS (transcript, after-hours message) names its address.
        to=str(message.meta.get("to") or interaction.customer_address),
        from_=interaction.hub_address,
        body=message.body,
        subject=message.subject,
        message_id=message.id,
        meta={"interaction_id": interaction.id, **dict(message.meta)},
    )
    if message.channel == "email":
        domain = getattr(getattr(adapter, "settings", None), "domain", "") or "crmhub.invalid"
        outbound = email_threading(outbound, interaction.id, message.id, item.conversation, domain)
    failpoints.reach("send.before")
    try:
        result = await adapter.send(outbound)
    except SendError as exc:
        hub.metrics.sends.labels(message.channel, "error").inc()
        return _failed(hub, entry, message.id, exc, f"{exc.code or ''} {exc}".strip())
    failpoints.reach("send.returned")
    hub.metrics.sends.labels(message.channel, "sent").inc()
    return Outcome(entry.id, message.id, result.status, provider_ref=result.provider_ref)


def _failed(
    hub: Hub, entry: OutboxEntry, message_id: str | None, exc: SendError, error: str
) -> Outcome:
    """Permanent, or out of attempts: the message fails; else it is tried again later."""
    if exc.permanent or entry.attempts + 1 >= MAX_SEND_ATTEMPTS:
        return Outcome(entry.id, message_id, "failed", error)
    delay = min(2 ** (entry.attempts + 1), MAX_RETRY_S)
    if exc.retry_after is not None:  # the provider said when (a 429's Retry-After)
        delay = min(max(exc.retry_after, 1.0), MAX_RETRY_S)
    return Outcome(entry.id, None, "retry", str(exc), retry_at=hub.now() + timedelta(seconds=delay))

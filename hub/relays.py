"""Outbox relays: events that missed the bus after commit, and outbound sends with retries."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from channels.base import OutboundMessage, SendError
from channels.email_compose import ticket_token
from hub import failpoints
from hub.call_connector import connect_agent
from hub.context import Hub
from hub.events import MessageStatusChanged, from_wire
from hub.models import Interaction, Message, OutboxEntry

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 8
SEND_BATCH = 50
RELAY_GRACE_S = 5.0  # events younger than this are still being published by their writer


async def relay_events(hub: Hub) -> int:
    """Publish events whose writer could not (bus down, process died between commit and publish)."""
    await hub.settle_published()
    cutoff = hub.now() - timedelta(seconds=RELAY_GRACE_S)
    async with hub.store.session() as session:
        rows = (
            await session.exec(
                select(OutboxEntry)
                .where(
                    OutboxEntry.kind == "event",
                    col(OutboxEntry.done).is_(False),
                    col(OutboxEntry.created_at) <= cutoff,
                )
                .order_by(col(OutboxEntry.created_at))
                .limit(200)
            )
        ).all()
    sent: list[str] = []
    for row in rows:
        if hub.is_unsettled(row.id):
            continue
        try:
            await hub.bus.publish(from_wire(dict(row.payload)))
        except Exception:
            log.warning("outbox relay could not publish; will retry")
            break
        sent.append(row.id)
    await hub.mark_published(sent)
    return len(sent)


async def _claim_sends(hub: Hub) -> list[OutboxEntry]:
    now = hub.now()
    async with hub.store.session() as session:
        due = (
            await session.exec(
                select(OutboxEntry)
                .where(
                    col(OutboxEntry.kind).in_(("send", "connect")),
                    col(OutboxEntry.done).is_(False),
                    col(OutboxEntry.next_attempt_at) <= now,
                )
                .order_by(col(OutboxEntry.next_attempt_at))
                .limit(SEND_BATCH)
            )
        ).all()
    claimed = []
    for row in due:
        async with hub.store.transaction() as session:
            # Compare-and-set on next_attempt_at: with several hub processes one claim wins.
            result = await session.exec(
                sa.update(OutboxEntry)
                .where(
                    col(OutboxEntry.id) == row.id,
                    col(OutboxEntry.next_attempt_at) == row.next_attempt_at,
                    col(OutboxEntry.done).is_(False),
                )
                .values(next_attempt_at=now + timedelta(seconds=hub.settings.send_claim_s))
            )
        if result.rowcount == 1:
            claimed.append(row)
    return claimed


async def relay_sends(hub: Hub) -> int:
    """Send every due outbound message through its channel adapter; returns how many were tried.

    Drains in batches until nothing is due (a burst of 5,000 replies used to go out 20 per
    2-second tick), with `send_concurrency` sends in flight: providers answer in tens of ms and
    one slow send must not hold up the rest."""
    gate = asyncio.Semaphore(max(1, hub.settings.send_concurrency))

    async def in_order(entries: list[OutboxEntry]) -> None:
        """One conversation's sends one after the other, so the customer reads them in order."""
        async with gate:
            for entry in entries:
                if entry.kind == "connect":
                    await _connect_one(hub, entry)
                else:
                    await _send_one(hub, entry)

    total = 0
    while not hub.shutdown.requested:
        claimed = await _claim_sends(hub)
        conversations: dict[str, list[OutboxEntry]] = {}
        for entry in claimed:
            key = str(entry.payload.get("interaction_id") or entry.id)
            conversations.setdefault(key, []).append(entry)
        await asyncio.gather(*(in_order(group) for group in conversations.values()))
        total += len(claimed)
        if len(claimed) < SEND_BATCH:
            break
    return total


async def _connect_one(hub: Hub, entry: OutboxEntry) -> None:
    try:
        await connect_agent(hub, entry)
    except SendError as exc:
        hub.metrics.sends.labels("voice", "error").inc()
        if exc.permanent or entry.attempts + 1 >= MAX_SEND_ATTEMPTS:
            await _finish(hub, entry, None, "failed", str(exc))
        else:
            await _retry(hub, entry, str(exc))
        return
    hub.metrics.sends.labels("voice", "connected").inc()
    await _finish(hub, entry, None, "sent", "")


async def _send_one(hub: Hub, entry: OutboxEntry) -> None:
    async with hub.store.session() as session:
        message = await session.get(Message, str(entry.payload.get("message_id", "")))
        interaction = await session.get(Interaction, message.interaction_id) if message else None
    if message is None or interaction is None:
        await _finish(hub, entry, None, "failed", "message vanished")
        return
    adapter = hub.channels.get(message.channel)
    if adapter is None:
        await _finish(hub, entry, message, "failed", f"no adapter for channel {message.channel}")
        return
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
        outbound = await _email_threading(hub, outbound, interaction.id, message.id)
    failpoints.reach("send.before")
    try:
        result = await adapter.send(outbound)
    except SendError as exc:
        hub.metrics.sends.labels(message.channel, "error").inc()
        if exc.permanent or entry.attempts + 1 >= MAX_SEND_ATTEMPTS:
            await _finish(hub, entry, message, "failed", f"{exc.code or ''} {exc}".strip())
        else:
            await _retry(hub, entry, str(exc))
        return
    failpoints.reach("send.returned")
    hub.metrics.sends.labels(message.channel, "sent").inc()
    await _finish(hub, entry, message, result.status, "", provider_ref=result.provider_ref)


async def _email_threading(
    hub: Hub, outbound: OutboundMessage, interaction_id: str, message_id: str
) -> OutboundMessage:
    """In-Reply-To the customer's last mail, References the whole chain, Message-ID ours."""
    async with hub.store.session() as session:
        rows = (
            await session.exec(
                select(Message)
                .where(Message.interaction_id == interaction_id, Message.id != message_id)
                .order_by(col(Message.created_at))
            )
        ).all()
    refs = tuple(m.provider_ref for m in rows if m.provider_ref and "@" in m.provider_ref)
    last_in = next(
        (
            m.provider_ref
            for m in reversed(rows)
            if m.direction == "in" and m.provider_ref and "@" in m.provider_ref
        ),
        "",
    )
    sender = hub.channels.get("email")
    domain = getattr(getattr(sender, "settings", None), "domain", "") or "crmhub.invalid"
    meta = {**outbound.meta, "ticket": ticket_token(interaction_id)}
    answered = next((m for m in reversed(rows) if m.direction == "in" and m.body.strip()), None)
    if answered is not None and not outbound.meta.get("transcript"):
        author = answered.meta.get("sender_name") or answered.sender
        at = answered.created_at.strftime("%a, %d %b %Y at %H:%M UTC")
        meta["quote"] = {"author": str(author), "at": at, "body": answered.body}
    return replace(
        outbound,
        message_id=f"{message_id}@{domain}",
        in_reply_to=last_in or "",
        references=refs[-20:],
        meta=meta,
    )


async def _retry(hub: Hub, entry: OutboxEntry, error: str) -> None:
    delay = min(2 ** (entry.attempts + 1), 300)
    async with hub.store.transaction() as session:
        row = await session.get(OutboxEntry, entry.id)
        if row is not None:
            row.attempts += 1
            row.last_error = error[:500]
            row.next_attempt_at = hub.now() + timedelta(seconds=delay)
            session.add(row)


async def _finish(
    hub: Hub,
    entry: OutboxEntry,
    message: Message | None,
    status: str,
    error: str,
    *,
    provider_ref: str | None = None,
) -> None:
    async with hub.transaction() as tx:
        row = await tx.session.get(OutboxEntry, entry.id)
        if row is not None:
            row.done, row.attempts, row.last_error = True, row.attempts + 1, error[:500]
            tx.session.add(row)
        if message is None:
            return
        stored = await tx.session.get(Message, message.id)
        if stored is None:
            return
        # A fast status callback may already have moved the message past "sent".
        if stored.status == "queued":
            stored.status = status
        stored.error = error[:500]
        if provider_ref:
            stored.provider_ref = provider_ref
        tx.session.add(stored)
        tx.emit(
            MessageStatusChanged(
                message_id=stored.id,
                interaction_id=stored.interaction_id,
                status=stored.status,
                error=stored.error,
            )
        )

"""Outbox relays: events that missed the bus after commit, and outbound sends with retries
(hub/send_relay.py)."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import col, select

from hub.context import Hub
from hub.events import from_wire
from hub.models import OutboxEntry
from hub.send_relay import relay_sends

__all__ = ["RELAY_GRACE_S", "relay_events", "relay_sends"]

log = logging.getLogger(__name__)

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

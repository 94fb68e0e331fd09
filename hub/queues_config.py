"""Queues are declared in config; on start the hub makes the queues table match it."""

from __future__ import annotations

from hub.context import Hub
from hub.models import Queue


async def sync_queues(hub: Hub) -> None:
    """Insert or update every configured queue; queues no longer configured are left alone so
    interactions still waiting in them are not orphaned."""
    async with hub.store.transaction() as session:
        for q in hub.settings.queues:
            row = await session.get(Queue, q.id) or Queue(id=q.id)
            for name, value in q.model_dump().items():
                setattr(row, name, value)
            row.name = q.name or q.id
            session.add(row)

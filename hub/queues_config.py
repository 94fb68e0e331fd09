"""Queues are declared in config; on start the hub makes the queues table match it."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from hub.context import Hub
from hub.models import Queue


async def sync_queues(hub: Hub) -> None:
    """Insert or update every configured queue; queues no longer configured are left alone so
    interactions still waiting in them are not orphaned.

    Several hub processes starting at once on a fresh database race to insert the same queues:
    the loser of the unique-key race retries and then finds the rows to update.
    """
    for attempt in range(3):
        try:
            await _sync(hub)
            return
        except IntegrityError:
            if attempt == 2:
                raise


async def _sync(hub: Hub) -> None:
    async with hub.store.transaction() as session:
        for q in hub.settings.queues:
            row = await session.get(Queue, q.id) or Queue(id=q.id)
            for name, value in q.model_dump().items():
                setattr(row, name, value)
            row.name = q.name or q.id
            row.managed_by = "config"
            session.add(row)

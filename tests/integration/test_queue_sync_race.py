"""Regression: two hub processes starting at once on a fresh database both inserted the
configured queues and one crashed on the unique key (seen in CI's two-process test)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import select

from hub.app import build_hub
from hub.models import Queue
from hub.queues_config import sync_queues

pytestmark = pytest.mark.postgres


async def test_concurrent_queue_sync_on_a_fresh_database(
    make_settings: Callable[..., Any], pg_url: str
) -> None:
    hubs = [build_hub(make_settings(database_url=pg_url)) for _ in range(4)]
    try:
        await asyncio.gather(*(sync_queues(h) for h in hubs))
        async with hubs[0].store.session() as session:
            ids = sorted(q.id for q in (await session.exec(select(Queue))).all())
    finally:
        for h in hubs:
            await h.store.close()
    assert ids == ["sales", "support", "vip"]

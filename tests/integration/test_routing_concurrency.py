"""Several hub processes routing against one PostgreSQL: no interaction offered twice, no agent
over capacity (the routing fence row serializes passes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import select

from channels.base import InboundContact
from hub.actions.receive_contact import receive_contact
from hub.actions.route_interactions import route_interactions
from hub.app import build_hub
from hub.models import Agent, Interaction, Offer
from tests.support.hubs import add_agent

pytestmark = pytest.mark.postgres


async def test_concurrent_passes_on_separate_hubs_never_double_offer(
    make_settings: Callable[..., Any], pg_url: str
) -> None:
    settings = make_settings(database_url=pg_url)
    hubs = [build_hub(settings) for _ in range(4)]
    first = hubs[0]
    from hub.queues_config import sync_queues

    await sync_queues(first)
    agents = [await add_agent(first, f"agent{n}", available=True) for n in range(3)]
    async with first.store.transaction() as session:
        for agent in agents:
            row = await session.get(Agent, agent.id)
            assert row is not None
            row.capacity = {"sms": 2}
            session.add(row)
    for n in range(20):
        await receive_contact(
            first, InboundContact(channel="sms", provider_ref=f"SM{n}", sender=f"+14155550{n:03d}")
        )
    try:
        for _ in range(3):
            await asyncio.gather(*(route_interactions(h) for h in hubs))
        async with first.store.session() as session:
            offers = (await session.exec(select(Offer))).all()
            waiting = (
                await session.exec(select(Interaction).where(Interaction.state == "offered"))
            ).all()
    finally:
        for h in hubs:
            await h.store.close()
    assert len(offers) == 6  # 3 agents x capacity 2, and not one more
    assert len({o.interaction_id for o in offers}) == len(offers)
    per_agent: dict[str, int] = {}
    for it in waiting:
        per_agent[it.offered_agent_id or ""] = per_agent.get(it.offered_agent_id or "", 0) + 1
    assert sorted(per_agent.values()) == [2, 2, 2]

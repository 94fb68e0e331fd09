"""PostgreSQL restarted (crash-like, `-m immediate`) under load: the hub answers 503 with
Retry-After within Twilio's 15 s while it is gone, never a 500 and never a partial write; the
provider's retries then land exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from sqlmodel import select

from hub.app import build_hub
from hub.models import Customer, Interaction, Message
from tests.faults.harness import (
    SID_PREFIX,
    AcceptingConsole,
    PrivatePostgres,
    Webhooks,
    add_agents,
    check_invariants,
    hub_env,
    wait_settled,
)
from tests.support.processes import HubProcess

pytestmark = [pytest.mark.redis, pytest.mark.slow]


async def test_postgres_restarted_under_load(
    make_settings: Callable[..., Any], redis_url: str, redis_prefix: str
) -> None:
    pg = PrivatePostgres()
    if reason := pg.available():
        pytest.skip(reason)
    await pg.start()
    hub = build_hub(make_settings(database_url=pg.url))
    try:
        await hub.store.migrate()
        await add_agents(hub, 2, sms_capacity=30)
        env = hub_env(pg.url, redis_url, redis_prefix)
        a, b = HubProcess(env), HubProcess(env)
        await asyncio.gather(a.start(), b.start())
        consoles = [AcceptingConsole(f"agent{n}", [(a, b)[n].url]) for n in range(2)]
        webhooks = Webhooks([a.url, b.url])
        try:
            async with aiohttp.ClientSession() as http:
                for console in consoles:
                    await console.start(http)
            load = asyncio.create_task(webhooks.run(count=60, rate_per_s=6))
            await asyncio.sleep(3)
            await pg.restart_immediately()
            await load
            # The checker's own pool (no pre-ping, like the hub's) holds connections the restart
            # closed; the hubs find theirs dead on first use and answer 503 for that request.
            await hub.store.engine.dispose()
            await wait_settled(hub, timeout=60)
            summary = await check_invariants(hub, webhooks.accepted)
        finally:
            for console in consoles:
                await console.stop()
            await asyncio.gather(a.stop(), b.stop())
        assert summary["accepted"] == 60, webhooks.outcomes
        outcomes = set(webhooks.outcomes)
        assert outcomes <= {"200", "503"}, webhooks.outcomes  # no 500, no 15 s timeout
        assert webhooks.retry_after_seen == webhooks.outcomes["503"]

        # No partial write: each stored message has its interaction and customer, and each
        # interaction its first message.
        async with hub.store.session() as s:
            messages = (
                await s.exec(select(Message).where(Message.provider_ref.startswith(SID_PREFIX)))  # type: ignore[union-attr]
            ).all()
            interactions = {i.id: i for i in (await s.exec(select(Interaction))).all()}
            customers = {c.id for c in (await s.exec(select(Customer))).all()}
        assert len(messages) == 60
        for m in messages:
            it = interactions[m.interaction_id]
            assert it.customer_id in customers
        assert {m.interaction_id for m in messages} == set(interactions)
    finally:
        await hub.store.close()
        await pg.stop()

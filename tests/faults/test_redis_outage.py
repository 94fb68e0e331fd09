"""Redis stopped under load for 30 s, then started again empty (no persistence: streams, consumer
groups, leases and Socket.IO channels all gone). The database is the source of truth: the hub
keeps accepting (or answers 503 so the provider retries), /readyz says degraded, no process
dies, routing resumes, and a console that reconnects gets its whole state back."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from hub.app import build_hub
from tests.faults.harness import (
    AcceptingConsole,
    PrivateRedis,
    Webhooks,
    add_agents,
    check_invariants,
    hub_env,
    wait_settled,
)
from tests.support.agent_client import AgentClient
from tests.support.processes import HubProcess, until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
OUTAGE_S = float(os.environ.get("CRMHUB_FAULT_REDIS_OUTAGE_S", "30"))


async def readyz(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as resp:
        return resp.status, await resp.json()


async def test_redis_down_for_30_s_then_back_empty(
    make_settings: Callable[..., Any], pg_url: str
) -> None:
    redis = PrivateRedis()
    await redis.start()
    hub = build_hub(make_settings(database_url=pg_url))
    await add_agents(hub, 3, sms_capacity=6)
    env = hub_env(pg_url, redis.url, "crmhub-fault:")
    a, b = HubProcess(env), HubProcess(env)
    await asyncio.gather(a.start(), b.start())
    consoles = [AcceptingConsole(f"agent{n}", [(a, b)[n % 2].url]) for n in range(3)]
    # Two arrivals a second for the whole outage and some before and after it.
    webhooks = Webhooks([a.url, b.url], give_up_s=OUTAGE_S + 60)
    count = int(2 * (OUTAGE_S + 10))
    try:
        async with aiohttp.ClientSession() as http:
            for console in consoles:
                await console.start(http)
        load = asyncio.create_task(webhooks.run(count=count, rate_per_s=2))
        await asyncio.sleep(3)
        await redis.kill()
        await asyncio.sleep(2)
        status, body = await readyz(a.url)
        assert (status, body["status"], body["database"]) == (200, "degraded", "ok"), body
        await asyncio.sleep(max(0.0, OUTAGE_S - 2))
        assert a.proc is not None and b.proc is not None
        assert a.proc.returncode is None and b.proc.returncode is None, "a hub process died"
        await redis.start()  # same port, nothing in it
        await load
        assert webhooks.accepted == {f"SMfault{n}" for n in range(count)}, webhooks.outcomes

        async def all_agents_full() -> bool:  # routing and console emits resumed
            return sum(len(c.accepted) for c in consoles) == 18

        await until(all_agents_full, timeout=30, what="the agents to fill up again")
        await wait_settled(hub, timeout=60)
        summary = await check_invariants(hub, webhooks.accepted)
        assert summary["states"].get("assigned", 0) == 18
        assert (await readyz(a.url))[1]["status"] == "ok"

        # A console that reconnects after the outage gets everything it holds from the snapshot.
        for console in consoles:
            await console.stop()
        again = AgentClient()
        async with aiohttp.ClientSession() as http:
            login = await http.post(
                f"{b.url}/api/auth/login",
                json={"username": "agent0", "password": "correct horse battery"},
            )
            token = (await login.json())["token"]
        await again.connect(b.url, token)
        state = await again.next("state")
        await again.close()
        assert sorted(w["interaction"]["id"] for w in state["interactions"]) == sorted(
            consoles[0].accepted
        )
    finally:
        for console in consoles:
            await console.stop()
        a.kill()
        b.kill()
        await redis.kill()
        await hub.store.close()

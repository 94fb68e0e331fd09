"""`kill -9` of a hub process at each step of the path, under load, with a second process alive:
after the commit but before the publish, after the publish but before the console emit, and in
the middle of an outbound send. The process kills itself (SIGKILL) at a named failpoint, so the
test hits the exact step every run; a process supervisor then starts it again."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from sqlmodel import select

from hub.actions.send_reply import send_reply
from hub.app import build_hub
from hub.models import Message
from tests.faults.harness import (
    AcceptingConsole,
    Webhooks,
    add_agents,
    check_invariants,
    hub_env,
    wait_settled,
)
from tests.support.fake_twilio import FakeTwilio
from tests.support.processes import HubProcess, until

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.mark.parametrize("failpoint", ["tx.committed=12", "console.before_emit=6"])
async def test_a_process_killed_mid_path_loses_and_duplicates_nothing(
    failpoint: str,
    make_settings: Callable[..., Any],
    pg_url: str,
    redis_url: str,
    redis_prefix: str,
) -> None:
    hub = build_hub(make_settings(database_url=pg_url))
    await add_agents(hub, 3, sms_capacity=4)
    env = hub_env(pg_url, redis_url, redis_prefix)
    doomed = HubProcess({**env, "CRMHUB_FAILPOINTS": failpoint})
    survivor = HubProcess(env)
    await asyncio.gather(doomed.start(), survivor.start())
    consoles = [AcceptingConsole(f"agent{n}", [survivor.url]) for n in range(3)]
    webhooks = Webhooks([doomed.url, survivor.url])
    try:
        async with aiohttp.ClientSession() as http:
            for console in consoles:
                await console.start(http)
        await webhooks.run(count=40, rate_per_s=20)
        assert doomed.proc is not None
        await asyncio.wait_for(doomed.proc.wait(), timeout=30)
        assert doomed.proc.returncode == -9, "the failpoint never fired"
        restarted = HubProcess({**env})  # what systemd/k8s would do; no crash loop
        await restarted.start()
        await wait_settled(hub)
        summary = await check_invariants(hub, webhooks.accepted)
        assert summary["accepted"] == 40, webhooks.outcomes
        assert summary["states"].get("assigned", 0) == 12  # three agents, four each
        assert sum(len(c.accepted) for c in consoles) == 12
        await restarted.stop()
    finally:
        for console in consoles:
            await console.stop()
        doomed.kill()
        await survivor.stop()
        await hub.store.close()


async def test_a_process_killed_during_an_outbound_send_loses_no_reply(
    make_settings: Callable[..., Any],
    pg_url: str,
    redis_url: str,
    redis_prefix: str,
    twilio: FakeTwilio,
) -> None:
    """Killed after Twilio accepted a reply but before it was recorded: when the process is
    started again, the claim has expired and the reply goes out again. At-least-once: nothing
    lost, and only messages in flight at the kill (at most `send_concurrency`) go out twice."""
    hub = build_hub(make_settings(database_url=pg_url))
    agents = await add_agents(hub, 2, sms_capacity=10)
    env = hub_env(pg_url, redis_url, redis_prefix, CRMHUB_TWILIO__API_BASE_URL=twilio.base_url)
    doomed = HubProcess({**env, "CRMHUB_FAILPOINTS": "send.returned=1"})
    await doomed.start()
    consoles = [AcceptingConsole(f"agent{n}", [doomed.url]) for n in range(2)]
    webhooks = Webhooks([doomed.url])
    restarted = HubProcess(env)
    try:
        async with aiohttp.ClientSession() as http:
            for console in consoles:
                await console.start(http)
        await webhooks.run(count=10, rate_per_s=20)

        async def all_accepted() -> bool:
            return sum(len(c.accepted) for c in consoles) == 10

        await until(all_accepted, timeout=30, what="the agents to accept all ten")
        owner = {it: agents[n].id for n, c in enumerate(consoles) for it in c.accepted}
        # Written straight to the database: the doomed process's sender claims the whole batch
        # on its next pass and dies after the first send.
        for n, (interaction_id, agent_id) in enumerate(sorted(owner.items())):
            await send_reply(hub, agent_id, interaction_id, f"reply {n}")
        assert doomed.proc is not None
        await asyncio.wait_for(doomed.proc.wait(), timeout=30)
        assert doomed.proc.returncode == -9
        in_flight = len(twilio.messages())
        assert 1 <= in_flight <= 8  # send_concurrency
        await restarted.start()

        async def all_sent() -> bool:
            async with hub.store.session() as s:
                rows = (await s.exec(select(Message).where(Message.direction == "out"))).all()
            return len(rows) == 10 and all(m.status in ("sent", "delivered") for m in rows)

        await until(all_sent, timeout=30, what="every reply sent")
        bodies = Counter(r.form.get("Body") for r in twilio.messages())
        assert set(bodies) == {f"reply {n}" for n in range(10)}  # nothing lost
        assert 1 <= sum(n - 1 for n in bodies.values()) <= in_flight  # only those in flight
        await check_invariants(hub, webhooks.accepted)
    finally:
        for console in consoles:
            await console.stop()
        doomed.kill()
        await restarted.stop()
        await hub.store.close()

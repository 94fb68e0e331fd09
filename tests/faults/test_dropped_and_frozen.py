"""An agent's link dropped (RST, no goodbye) while an offer rings, and a hub process frozen with
SIGSTOP for 20 s while it holds the routing lease and live offers."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from sqlmodel import select

from hub.app import build_hub
from hub.models import Interaction, Offer
from tests.faults.harness import (
    AcceptingConsole,
    Webhooks,
    add_agents,
    check_invariants,
    hub_env,
    wait_settled,
)
from tests.support.agent_client import AgentClient
from tests.support.hubs import PASSWORD
from tests.support.processes import HubProcess, until
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]
FREEZE_S = float(os.environ.get("CRMHUB_FAULT_FREEZE_S", "20"))


async def token_for(url: str, username: str) -> str:
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{url}/api/auth/login", json={"username": username, "password": PASSWORD}
        )
        return str((await resp.json())["token"])


async def test_a_dropped_agent_link_times_the_offer_out_back_to_its_place_in_line(
    make_settings: Callable[..., Any], pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    hub = build_hub(make_settings(database_url=pg_url))
    await add_agents(hub, 2, sms_capacity=1)
    proc = HubProcess(hub_env(pg_url, redis_url, redis_prefix))
    await proc.start()
    proxy = TcpProxy("127.0.0.1", proc.port)
    await proxy.start()
    first = AgentClient()
    try:
        await first.connect(f"http://127.0.0.1:{proxy.port}", await token_for(proc.url, "agent0"))
        assert (await first.call("status", {"status": "available"}))["ok"]
        webhooks = Webhooks([proc.url])
        await webhooks.run(count=1, rate_per_s=1)
        offer = await first.next("offer")
        interaction_id = offer["interaction"]["id"]
        async with hub.store.session() as s:
            before = await s.get(Interaction, interaction_id)
            assert before is not None
            enqueued_at = before.enqueued_at
        await proxy.stop()  # every connection through it reset: the console is gone, unannounced

        async def timed_out() -> bool:
            async with hub.store.session() as s:
                rows = (await s.exec(select(Offer))).all()
            return any(o.outcome == "timeout" for o in rows)

        await until(timed_out, timeout=15, what="the dropped agent's offer to time out")
        second = AcceptingConsole("agent1", [proc.url])
        async with aiohttp.ClientSession() as http:
            await second.start(http)

        async def taken() -> bool:
            return second.accepted == [interaction_id]

        await until(taken, timeout=15, what="the next agent to get it")
        await second.stop()
        async with hub.store.session() as s:
            after = await s.get(Interaction, interaction_id)
            assert after is not None
        assert after.enqueued_at == enqueued_at  # it kept its place in line
        await check_invariants(hub, webhooks.accepted)
    finally:
        if first.sio.connected:
            await first.close()
        await proxy.stop()
        await proc.stop()
        await hub.store.close()


async def test_a_process_frozen_for_20_s_is_taken_over_and_its_late_actions_do_no_harm(
    make_settings: Callable[..., Any], pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    hub = build_hub(make_settings(database_url=pg_url))
    await add_agents(hub, 4, sms_capacity=3)
    env = hub_env(pg_url, redis_url, redis_prefix)  # ticker lease 5 s, offers 3 s
    a, b = HubProcess(env), HubProcess(env)
    await asyncio.gather(a.start(), b.start())
    # Half the agents on the process that freezes: their offers ring on a dead link.
    consoles = [AcceptingConsole(f"agent{n}", [(a, b)[n % 2].url]) for n in range(4)]
    webhooks = Webhooks([a.url, b.url], give_up_s=FREEZE_S + 60)
    try:
        async with aiohttp.ClientSession() as http:
            for console in consoles:
                await console.start(http)
        load = asyncio.create_task(webhooks.run(count=30, rate_per_s=1))
        await asyncio.sleep(4)
        assert a.proc is not None
        os.kill(a.proc.pid, signal.SIGSTOP)
        await asyncio.sleep(FREEZE_S)
        os.kill(a.proc.pid, signal.SIGCONT)  # it wakes with a stale view and old timers
        await load
        assert len(webhooks.accepted) == 30, webhooks.outcomes
        await wait_settled(hub, timeout=60)
        await check_invariants(hub, webhooks.accepted)
        assert a.proc.returncode is None
    finally:
        for console in consoles:
            await console.stop()
        if a.proc is not None and a.proc.returncode is None:
            os.kill(a.proc.pid, signal.SIGCONT)
        a.kill()
        await b.stop()
        await hub.store.close()

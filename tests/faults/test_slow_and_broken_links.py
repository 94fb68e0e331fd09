"""Slow and broken links between a hub process and PostgreSQL/Redis (a TCP proxy that adds
latency and resets every connection), under more load than the hub admits: it sheds the excess
with 503 + Retry-After, its memory stays flat, and every contact still lands exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest

from hub.app import build_hub
from tests.faults.harness import (
    AcceptingConsole,
    Webhooks,
    add_agents,
    check_invariants,
    hub_env,
    wait_settled,
)
from tests.support.processes import HubProcess
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(300)]
RSS_GROWTH_LIMIT_MB = 60


def through(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_overload_on_slow_and_resetting_links(
    make_settings: Callable[..., Any], pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    hub = build_hub(make_settings(database_url=pg_url))
    await add_agents(hub, 2, sms_capacity=50)
    pg_parts, redis_parts = urlsplit(pg_url), urlsplit(redis_url)
    pg_proxy = TcpProxy(pg_parts.hostname or "127.0.0.1", pg_parts.port or 5432)
    redis_proxy = TcpProxy(redis_parts.hostname or "127.0.0.1", redis_parts.port or 6379)
    await pg_proxy.start()
    await redis_proxy.start()
    proc = HubProcess(
        hub_env(
            through(pg_url, pg_proxy),
            through(redis_url, redis_proxy),
            redis_prefix,
            CRMHUB_MAX_INFLIGHT_REQUESTS="24",
        )
    )
    await proc.start()
    consoles = [AcceptingConsole(f"agent{n}", [proc.url]) for n in range(2)]
    webhooks = Webhooks([proc.url], give_up_s=120)
    try:
        async with aiohttp.ClientSession() as http:
            for console in consoles:
                await console.start(http)
        assert proc.proc is not None
        # Warm up (pools, imports) before the baseline.
        await webhooks.run(count=20, rate_per_s=20, start=10_000)
        baseline = rss_mb(proc.proc.pid)
        pg_proxy.delay_s = redis_proxy.delay_s = 0.03  # a slow link: 30 ms per chunk each way

        async def chaos() -> None:
            for _ in range(3):
                await asyncio.sleep(2)
                pg_proxy.reset_all()
                redis_proxy.reset_all()

        peak = baseline

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, rss_mb(proc.proc.pid))  # type: ignore[union-attr]
                await asyncio.sleep(0.2)

        watcher = asyncio.create_task(watch())
        # 400 arrivals at 200/s: far more than 24 in flight over 30 ms links.
        t0 = asyncio.get_running_loop().time()
        await asyncio.gather(webhooks.run(count=400, rate_per_s=200), chaos())
        watcher.cancel()
        took = asyncio.get_running_loop().time() - t0
        pg_proxy.delay_s = redis_proxy.delay_s = 0.0
        await wait_settled(hub, timeout=60, consoles=consoles, procs=[proc])
        await check_invariants(hub, webhooks.accepted)
        assert len(webhooks.accepted) == 420, webhooks.outcomes
        assert webhooks.outcomes["503"] > 0, webhooks.outcomes  # the excess was shed ...
        assert webhooks.retry_after_seen == webhooks.outcomes["503"]  # ... with Retry-After
        assert set(webhooks.outcomes) <= {"200", "503"}, webhooks.outcomes  # never a 500
        assert peak - baseline < RSS_GROWTH_LIMIT_MB, (baseline, peak)
        assert proc.proc.returncode is None
        print(
            f"\nslow links: {took:.1f} s, {dict(webhooks.outcomes)}, "
            f"RSS {baseline:.0f} -> {peak:.0f} MB"
        )
    finally:
        for console in consoles:
            await console.stop()
        await proc.stop()
        await pg_proxy.stop()
        await redis_proxy.stop()
        await hub.store.close()

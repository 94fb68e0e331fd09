"""B4, scale-out: the B1 load (signed SMS webhooks, 50 agents accepting over Socket.IO) against
one hub process and against two, both behind the same round-robin TCP proxy, sharing PostgreSQL
and Redis. Reports the throughput ratio and double offers (an interaction offered to two agents
at once, or a message offered twice)."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from typing import Any

from bench.inbound import AUTH_TOKEN, Console, closed_loop, create_accounts, fresh_database
from tests.support.processes import HubProcess, free_port


async def start_proxy(port: int, upstreams: list[int]) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.rr_proxy",
        str(port),
        *map(str, upstreams),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    await proc.stdout.readline()  # "ready"
    return proc


async def double_offers(db_url: str) -> int:
    """Interactions with more than one offer pending at the same time (must be 0)."""
    from sqlmodel import func, select

    from hub.models import Offer
    from hub.store import Store

    store = Store(db_url)
    try:
        async with store.session() as session:
            rows = (
                await session.exec(
                    select(Offer.interaction_id, func.count())
                    .where(Offer.outcome == "pending")
                    .group_by(Offer.interaction_id)
                    .having(func.count() > 1)
                )
            ).all()
        return len(rows)
    finally:
        await store.close()


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine: hub processes, PostgreSQL, Redis, the proxy
    and this load generator all share its cores."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]  # noqa: SIM115
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def machine_busy(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else float("nan")


async def one_setup(processes: int, seconds: float, agents: int) -> dict[str, Any]:
    db_url = await fresh_database("postgres")
    os.environ["CRMHUB_REDIS_URL"] = ""
    tokens = await create_accounts(db_url, agents)
    public_port = free_port()
    public = f"http://127.0.0.1:{public_port}"
    env = {
        "CRMHUB_DATABASE_URL": db_url,
        "CRMHUB_REDIS_URL": "redis://127.0.0.1:6379/0",
        "CRMHUB_REDIS_PREFIX": f"crmhub-b4-{secrets.token_hex(3)}:",
        "CRMHUB_TWILIO__AUTH_TOKEN": AUTH_TOKEN,
        "CRMHUB_TWILIO__API_BASE_URL": "http://127.0.0.1:9",
        "CRMHUB_PUBLIC_BASE_URL": public,
        "CRMHUB_ROUTING__WRAPUP_S": "0",
        "CRMHUB_ROUTING__TICK_S": "0.5",
        "CRMHUB_LOG_LEVEL": "WARNING",
    }
    hubs = [HubProcess(env) for _ in range(processes)]
    await asyncio.gather(*(h.start() for h in hubs))
    # The proxy listens on the public URL the webhook signatures name.
    proc = await start_proxy(public_port, [h.port for h in hubs])
    seen: dict[str, list[float]] = {}
    consoles: list[Console] = []
    try:
        for token in tokens:
            console = Console(seen)
            await console.open(public, token)
            consoles.append(console)
        before = machine_cpu()
        result = await closed_loop(public, public, seconds, 32)
        busy = machine_busy(before, machine_cpu())
        await asyncio.sleep(2)
        doubles = await double_offers(db_url)
        repeated = sum(len(v) - 1 for v in seen.values())
    finally:
        for c in consoles:
            await c.sio.disconnect()
        proc.kill()
        await proc.wait()
        await asyncio.gather(*(h.stop() for h in hubs))
    return {
        "rps": result.rps,
        "p99_ms": result.p99_ms,
        "doubles": doubles,
        "repeated": repeated,
        "busy": busy,
    }


async def run(smoke: bool = False) -> list[tuple[str, str, str]]:
    seconds, agents = (1.5, 3) if smoke else (8.0, 50)
    one = await one_setup(1, seconds, agents)
    two = await one_setup(2, seconds, agents)
    ratio = two["rps"] / one["rps"] if one["rps"] else float("nan")
    return [
        (
            "B4 one hub process (PostgreSQL + Redis)",
            f"{one['rps']:.0f} req/s",
            f"p99 {one['p99_ms']:.0f} ms; machine {one['busy']:.0%} busy ({os.cpu_count()} cores)",
        ),
        (
            "B4 two hub processes behind round robin",
            f"{two['rps']:.0f} req/s",
            f"{ratio:.2f} x one process (target >= 1.6); machine {two['busy']:.0%} busy",
        ),
        (
            "B4 double offers",
            f"{one['doubles'] + two['doubles']} pending twice",
            f"messages offered twice: {one['repeated'] + two['repeated']}",
        ),
    ]


if __name__ == "__main__":
    started = time.perf_counter()
    for row in asyncio.run(run(smoke="--smoke" in sys.argv)):
        print("  ".join(row))
    print(f"({time.perf_counter() - started:.0f} s)")

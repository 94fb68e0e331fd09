"""The steady cost of one B1 cycle (webhook, routing pass, offer, accept, wrap-up), one message at
a time: the figure to compare code changes with on a noisy machine, where B1's rates move by
half from run to run.

One real `python -m hub serve`, 5 consoles that accept and wrap up every offer, and N SMS sent
one after the other (the next only once the previous one's offer is accepted and wrapped up),
after a warm-up. No batching helps a lone message, so this is the per-message cost B1's burst
shares out; the hub is idle between messages, so it barely depends on what else the machine runs.

    python -m bench.cycle_cost [--db sqlite|postgres] [-n 200]

Reports the hub's CPU per message (utime + stime of the hub process, every thread, from
/proc/<pid>/stat), SQL statements per message (`crmhub_db_statements_total` from GET /metrics,
before and after) and the webhook -> offer latency (from just before the POST to the console's
`offer` event).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.inbound import (
    AUTH_TOKEN,
    PATH,
    Console,
    cpu_seconds,
    create_accounts,
    drain,
    metric,
    pct,
    start_hub,
)
from hub import gc_tuning
from tests.support.twilio_signing import sms_form, twilio_signature

STATEMENTS = "crmhub_db_statements_total"
CONSOLE_BACKLOG = 'crmhub_bus_backlog{group="console"}'
IDLE_S = 2.0  # the idle window that measures the hub's background cost (ticks)
PG_NAME = "crmhub_bench_cycle"  # its own database: B1/B2 may run beside it

Row = tuple[str, str, str]


class CycleConsole(Console):
    """A console that tells the sender when its message is offered and when it is wrapped up."""

    def __init__(
        self,
        seen: dict[str, list[float]],
        waiting: dict[str, tuple[asyncio.Future[float], asyncio.Future[None]]],
    ) -> None:
        super().__init__(seen)
        self.waiting = waiting

    async def on_offer(self, data: Any) -> None:
        body = data["messages"][0]["body"] if data["messages"] else ""
        offered, done = self.waiting.get(body, (None, None))
        if offered is not None and not offered.done():
            offered.set_result(time.perf_counter())
        await super().on_offer(data)
        if done is not None and not done.done():
            done.set_result(None)


@dataclass
class Cost:
    db: str
    n: int
    warmup: int
    cpu_ms: float  # hub CPU per message
    statements: float  # SQL statements per message
    offer_p50_ms: float
    offer_p90_ms: float
    http_p50_ms: float
    per_s: float  # cycles per second, one after the other
    idle_cpu_ms_s: float  # the idle hub's CPU per second (included above)
    idle_statements_s: float  # and its statements per second
    duplicates: int


async def measure(n: int = 200, warmup: int = 20, db: str = "sqlite") -> Cost:
    """Start a hub, warm it up, measure its idle cost, then `n` cycles one after the other."""
    hub, db_url, public = await start_hub(5, db, pg_name=PG_NAME)
    assert hub.proc is not None
    pid = hub.proc.pid
    tokens = await create_accounts(db_url, 5)
    seen: dict[str, list[float]] = {}
    waiting: dict[str, tuple[asyncio.Future[float], asyncio.Future[None]]] = {}
    consoles = [CycleConsole(seen, waiting) for _ in tokens]
    Console.wrapped = 0
    loop = asyncio.get_running_loop()
    reads = 0  # GET /metrics in the measured window: each runs one statement of its own

    async def statements() -> float:
        nonlocal reads
        reads += 1
        return await metric(public, STATEMENTS)

    async def backlog() -> float:
        nonlocal reads
        reads += 1
        return await metric(public, CONSOLE_BACKLOG)

    async def cycle(http: aiohttp.ClientSession, i: int) -> tuple[float, float]:
        """One message, until its offer is wrapped up: (webhook -> offer, HTTP) in seconds."""
        body = f"cycle-{i}"
        offered, done = loop.create_future(), loop.create_future()
        waiting[body] = (offered, done)
        form = sms_form(f"SMCY{i:010d}", f"+16503{i:06d}", body)
        sig = twilio_signature(AUTH_TOKEN, public + PATH, form)
        started = time.perf_counter()
        async with http.post(public + PATH, data=form, headers={"X-Twilio-Signature": sig}) as r:
            await r.read()
            if r.status >= 400:
                raise RuntimeError(f"the hub answered {r.status} to message {i}")
        answered = time.perf_counter()
        async with asyncio.timeout(30):
            at = await offered
            await done
        return at - started, answered - started

    try:
        for console, token in zip(consoles, tokens, strict=True):
            await console.open(public, token)
        async with aiohttp.ClientSession() as http:
            for i in range(warmup):
                await cycle(http, i)
            await drain(public, seen)
            # The idle hub's cost (routing ticks, relays), to say how much of the figures is not
            # the messages'. A fixed window, not an event: there is nothing to wait for.
            cpu0, st0 = cpu_seconds(pid), await statements()
            await asyncio.sleep(IDLE_S)
            cpu1, st1 = cpu_seconds(pid), await statements()
            idle_cpu, idle_st = (cpu1 - cpu0) / IDLE_S, (st1 - st0 - 1) / IDLE_S
            reads = 0
            cpu0, st0, began = cpu_seconds(pid), await statements(), time.perf_counter()
            timings = [await cycle(http, warmup + i) for i in range(n)]
            # The last message's tail: the broadcaster's events after its wrap-up.
            async with asyncio.timeout(60):
                while await backlog() > 0:  # noqa: ASYNC110 - the backlog lives in the hub
                    await asyncio.sleep(0.05)
            took = time.perf_counter() - began
            cpu1, st1 = cpu_seconds(pid), await statements()
    finally:
        for c in consoles:
            await c.sio.disconnect()
        await hub.stop()
    offer = [t[0] for t in timings]
    return Cost(
        db=db,
        n=n,
        warmup=warmup,
        cpu_ms=(cpu1 - cpu0) / n * 1e3,
        statements=(st1 - st0 - (reads - 1)) / n,
        offer_p50_ms=pct(offer, 0.5) * 1e3,
        offer_p90_ms=pct(offer, 0.9) * 1e3,
        http_p50_ms=pct([t[1] for t in timings], 0.5) * 1e3,
        per_s=n / took,
        idle_cpu_ms_s=idle_cpu * 1e3,
        idle_statements_s=idle_st,
        duplicates=sum(len(v) - 1 for v in seen.values()),
    )


def rows(cost: Cost) -> list[Row]:
    """The figures as `python -m bench` rows."""
    return [
        (
            f"B1 cycle cost, one message at a time ({cost.db})",
            f"{cost.cpu_ms:.1f} ms hub CPU, {cost.statements:.1f} statements per message",
            (
                f"{cost.n} after {cost.warmup} warm-up, {cost.per_s:.0f} msg/s; idle hub "
                f"{cost.idle_cpu_ms_s:.0f} ms CPU and {cost.idle_statements_s:.1f} statements/s"
            ),
        ),
        (
            "B1 cycle webhook -> offer",
            f"p50 {cost.offer_p50_ms:.1f} / p90 {cost.offer_p90_ms:.1f} ms",
            f"HTTP p50 {cost.http_p50_ms:.1f} ms; duplicate offers {cost.duplicates}",
        ),
    ]


async def run(smoke: bool = False, db: str = "sqlite") -> list[Row]:
    """`python -m bench`'s row group: 200 messages after 20 (smoke: 10 after 3)."""
    n, warmup = (10, 3) if smoke else (200, 20)
    return rows(await measure(n, warmup, db))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cycle_cost")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("-n", type=int, default=200, help="measured messages")
    parser.add_argument("--warmup", type=int, default=20, help="messages before measuring")
    args = parser.parse_args(argv)
    gc_tuning.tune()  # the load generator's own pauses out of the latency (bench/__main__.py)
    cost = asyncio.run(measure(args.n, args.warmup, args.db))
    print(f"B1 cycle, one message at a time ({args.db}): {args.n} after {args.warmup} warm-up")
    print(f"  hub CPU            {cost.cpu_ms:.1f} ms per message")
    print(f"  SQL statements     {cost.statements:.1f} per message")
    print(f"  webhook -> offer   p50 {cost.offer_p50_ms:.1f} / p90 {cost.offer_p90_ms:.1f} ms")
    print(f"  HTTP               p50 {cost.http_p50_ms:.1f} ms")
    print(f"  cycles             {cost.per_s:.1f} per second, duplicate offers {cost.duplicates}")
    print(
        f"  idle hub           {cost.idle_cpu_ms_s:.1f} ms CPU and "
        f"{cost.idle_statements_s:.1f} statements per second (included above)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

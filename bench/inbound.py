"""B1, inbound to agent: signed Twilio SMS webhooks against a real `python -m hub serve`
(embedded defaults: SQLite, in-process bus) with agents connected over Socket.IO, against two
baselines measured in the same run on the same machine: a bare aiohttp hello-world handler and a
handler that only parses the form and checks the Twilio signature.

Throughput is closed-loop (C concurrent senders for D seconds). Webhook-to-agent latency is
open-loop at half the hub's throughput: sends follow a fixed schedule and latency is measured
from the scheduled send time, so a slow server cannot hide it. 10% of the sends repeat an earlier
MessageSid (Twilio's retries); the hub must offer each MessageSid exactly once.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import socketio

from tests.support.processes import HubProcess, free_port
from tests.support.twilio_signing import sms_form, twilio_signature

AUTH_TOKEN = "bench-twilio-auth-token"
PATH = "/webhooks/twilio/sms"


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


async def closed_loop(url: str, public: str, seconds: float, concurrency: int) -> Result:
    """Max throughput: `concurrency` senders back to back for `seconds`."""
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    counter = 0

    async def sender(http: aiohttp.ClientSession, n: int) -> None:
        nonlocal counter
        while time.perf_counter() < stop:
            counter += 1
            sid = f"SM{n:03d}{counter:09d}"
            form = sms_form(sid, f"+14152{counter % 1_000_000:06d}", f"t-{sid}")
            sig = twilio_signature(AUTH_TOKEN, public + PATH, form)
            started = time.perf_counter()
            async with http.post(url + PATH, data=form, headers={"X-Twilio-Signature": sig}) as r:
                await r.read()
                if r.status >= 400:
                    raise RuntimeError(f"{url} answered {r.status}")
            latencies.append(time.perf_counter() - started)

    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as http:
        began = time.perf_counter()
        await asyncio.gather(*(sender(http, n) for n in range(concurrency)))
        took = time.perf_counter() - began
    return Result(url, len(latencies) / took, pct(latencies, 0.5) * 1e3, pct(latencies, 0.99) * 1e3)


async def start_baseline(mode: str) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.baseline_server", mode, str(port), AUTH_TOKEN
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            async with aiohttp.ClientSession() as http, http.get(url + "/ready") as r:
                if r.status == 200:
                    return proc, url
        except aiohttp.ClientError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"baseline {mode} did not start")


async def fresh_database(db: str) -> str:
    """A new SQLite file, or a new database on the local PostgreSQL (dropped and recreated).

    `CRMHUB_BENCH_PG_DB` names that database (default crmhub_bench): two benchmark runs sharing
    the machine must not drop each other's database."""
    if db == "sqlite":
        return f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='crmhub-bench-')}/hub.db"
    import asyncpg

    name = os.environ.get("CRMHUB_BENCH_PG_DB", "crmhub_bench")
    if not name.replace("_", "").isalnum():
        raise ValueError(f"CRMHUB_BENCH_PG_DB must be a plain identifier, not {name!r}")
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def create_accounts(
    db_url: str,
    count: int,
    *,
    prefix: str = "bench",
    role: str = "agent",
    capacity: dict[str, int] | None = None,
) -> list[str]:
    """Console accounts straight in the store, with a token each: 50 logins from one address
    would hit the login rate limit (and measure argon2, which is no benchmark's subject)."""
    os.environ.update({"CRMHUB_DATABASE_URL": db_url})
    from hub.actions.create_agent import create_agent
    from hub.app import build_hub
    from hub.auth import issue_token
    from hub.models import Agent
    from hub.settings import load_settings

    local = build_hub(load_settings())
    await local.store.migrate()
    tokens = []
    try:
        for n in range(count):
            agent = await create_agent(local, f"{prefix}{n}", "bench password 123", role=role)
            tokens.append(await issue_token(local, agent.id))
            async with local.store.transaction() as session:
                row = await session.get(Agent, agent.id)
                assert row is not None
                row.capacity = capacity or {"sms": 50, "voice": 1, "chat": 3, "email": 5}
                session.add(row)
    finally:
        await local.store.close()
    return tokens


async def start_hub(
    agents: int, db: str = "sqlite", *, env: dict[str, str] | None = None
) -> tuple[HubProcess, str, str]:
    """A hub process on a fresh database; returns it, its database URL and its public URL."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    db_url = await fresh_database(db)
    hub = HubProcess(
        {
            "CRMHUB_DATABASE_URL": db_url,
            "CRMHUB_TWILIO__AUTH_TOKEN": AUTH_TOKEN,
            "CRMHUB_TWILIO__API_BASE_URL": "http://127.0.0.1:9",  # replies are not benchmarked
            "CRMHUB_PUBLIC_BASE_URL": public,
            "CRMHUB_ROUTING__WRAPUP_S": "0",
            "CRMHUB_ROUTING__TICK_S": "0.5",
            "CRMHUB_LOG_LEVEL": "WARNING",
            **(env or {}),
        }
    )
    hub.port, hub.url = port, public
    hub.env["CRMHUB_PORT"] = str(port)
    await hub.start()
    return hub, db_url, public


class Console:
    """One agent's console: records the time of every offer and accepts + wraps it up."""

    wrapped = 0  # offers accepted and wrapped up, over every console

    def __init__(self, seen: dict[str, list[float]]) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.seen = seen
        self.sio.on("offer", self.on_offer, namespace="/agent")

    async def on_offer(self, data: Any) -> None:
        body = data["messages"][0]["body"] if data["messages"] else ""
        self.seen.setdefault(body, []).append(time.perf_counter())
        it = data["interaction"]["id"]
        await self.sio.call("accept", {"interaction_id": it}, namespace="/agent")
        await self.sio.call(
            "wrapup", {"interaction_id": it, "disposition": "resolved"}, namespace="/agent"
        )
        Console.wrapped += 1

    async def open(self, url: str, token: str) -> None:
        await self.sio.connect(
            url, namespaces=["/agent"], auth={"token": token}, transports=["websocket"]
        )
        await self.sio.call("status", {"status": "available"}, namespace="/agent")


async def console_backlog(url: str) -> float:
    """crmhub_bus_backlog{group="console"} from the hub's /metrics (events not yet emitted)."""
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith('crmhub_bus_backlog{group="console"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def open_loop(
    url: str, public: str, rate: float, seconds: float, seen: dict[str, list[float]]
) -> dict[str, Any]:
    """Fixed schedule; 10% of sends repeat an earlier MessageSid (with the same body)."""
    total = int(rate * seconds)
    scheduled: dict[str, float] = {}
    http_lat: list[float] = []
    errors = 0
    start = time.perf_counter() + 0.2

    async def send(http: aiohttp.ClientSession, i: int) -> None:
        nonlocal errors
        n = i - 1 if i % 10 == 9 else i  # a duplicate of the previous message
        body = f"b1-{n}"
        at = start + i / rate
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        scheduled.setdefault(body, at)
        form = sms_form(f"SMB1{n:010d}", f"+16502{n % 1_000_000:06d}", body)
        sig = twilio_signature(AUTH_TOKEN, public + PATH, form)
        try:
            async with http.post(url + PATH, data=form, headers={"X-Twilio-Signature": sig}) as r:
                await r.read()
                errors += r.status >= 400
        except aiohttp.ClientError:
            errors += 1
        http_lat.append(time.perf_counter() - at)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as http:
        await asyncio.gather(*(send(http, i) for i in range(total)))
    deadline = time.perf_counter() + 60  # "lost" = never offered within a minute
    while sum(b in seen for b in scheduled) < len(scheduled) and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)  # offers arrive on 50 sockets: polling the tally is simplest
    to_agent = [seen[b][0] - scheduled[b] for b in scheduled if b in seen]
    return {
        "sent": total,
        "unique": len(scheduled),
        "lost": sum(1 for b in scheduled if b not in seen),
        "duplicates": sum(len(v) - 1 for b, v in seen.items() if b in scheduled),
        "errors": errors,
        "http_p50_ms": pct(http_lat, 0.5) * 1e3,
        "http_p99_ms": pct(http_lat, 0.99) * 1e3,
        "agent_p50_ms": pct(to_agent, 0.5) * 1e3,
        "agent_p99_ms": pct(to_agent, 0.99) * 1e3,
        "agent_p999_ms": pct(to_agent, 0.999) * 1e3,
    }


async def run(smoke: bool = False, db: str = "sqlite") -> list[tuple[str, str, str]]:
    seconds = 1.5 if smoke else 8.0
    concurrency = 8 if smoke else 32
    agents = 3 if smoke else 50
    rows: list[tuple[str, str, str]] = []
    base: dict[str, Result] = {}
    for mode in ("hello", "signature"):
        proc, url = await start_baseline(mode)
        try:
            base[mode] = await closed_loop(url, url, seconds, concurrency)
        finally:
            proc.terminate()
            await proc.wait()
    hub, db_url, public = await start_hub(agents, db)
    tokens = await create_accounts(db_url, agents)
    consoles: list[Console] = []
    seen: dict[str, list[float]] = {}
    Console.wrapped = 0
    try:
        for token in tokens:
            console = Console(seen)
            await console.open(public, token)
            consoles.append(console)
        began = time.perf_counter()
        hub_result = await closed_loop(public, public, seconds, concurrency)
        # Let the backlog drain (every throughput message offered) before the latency run.
        sent = int(hub_result.rps * seconds)
        drained = time.perf_counter() + 60
        while len(seen) < sent * 0.99 and time.perf_counter() < drained:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        # End to end: every accepted webhook offered at a console, until the last offer.
        last = max((v[0] for v in seen.values()), default=began)
        end_to_end = len(seen) / max(last - began, 1e-9)
        # The latency phase measures a steady state, not the burst's tail: wait until every
        # offer of the burst is accepted and wrapped up.
        offered = sum(len(v) for v in seen.values())
        while Console.wrapped < offered and time.perf_counter() < drained:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        # ... and the hub has dispatched the burst's events (a wrap-up is acknowledged before
        # the broadcaster has emitted what it caused).
        while await console_backlog(public) > 0 and time.perf_counter() < drained:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        seen.clear()
        # Sustained = what reaches the agents, not what the webhook endpoint can take in.
        rate = max(5.0, min(hub_result.rps, end_to_end) / 2)
        latency = await open_loop(public, public, rate, seconds, seen)
    finally:
        for c in consoles:
            await c.sio.disconnect()
        await hub.stop()
    hello = base["hello"].rps
    rows.append(
        ("B1 hello-world baseline", f"{hello:.0f} req/s", f"p50 {base['hello'].p50_ms:.1f} ms")
    )
    rows.append(
        (
            "B1 form + signature baseline",
            f"{base['signature'].rps:.0f} req/s",
            f"{base['signature'].rps / hello:.2f} x hello",
        )
    )
    rows.append(
        (
            f"B1 hub webhook throughput ({db})",
            f"{hub_result.rps:.0f} req/s",
            f"{hub_result.rps / hello:.2f} x hello (target >= 0.35)",
        )
    )
    rows.append(
        (
            f"B1 end to end ({db}): webhooks offered at a console",
            f"{end_to_end:.0f} msg/s",
            f"{end_to_end / hello:.3f} x hello (the burst above, until its last offer)",
        )
    )
    rows.append(
        (
            f"B1 webhook -> agent at {rate:.0f}/s",
            (
                f"p50 {latency['agent_p50_ms']:.1f} / p99 {latency['agent_p99_ms']:.1f} / "
                f"p99.9 {latency['agent_p999_ms']:.1f} ms"
            ),
            "target p99 <= 15 ms",
        )
    )
    rows.append(
        (
            "B1 HTTP at that rate",
            f"p50 {latency['http_p50_ms']:.1f} / p99 {latency['http_p99_ms']:.1f} ms",
            f"{latency['errors']} errors",
        )
    )
    rows.append(
        (
            "B1 exactly once",
            f"{latency['unique']} unique of {latency['sent']} sent",
            f"lost {latency['lost']}, duplicate offers {latency['duplicates']}",
        )
    )
    return rows

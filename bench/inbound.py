"""B1, inbound to agent: signed Twilio SMS webhooks against a real `python -m hub serve`
(embedded defaults: SQLite, in-process bus) with agents connected over Socket.IO, against two
baselines measured in the same run on the same machine: a bare aiohttp hello-world handler and a
handler that only parses the form and checks the Twilio signature.

Sustained throughput is open-loop at stepped rates (`stepped`): each step sends on a fixed
schedule, so a slow server cannot hide its latency behind a slower sender, and the highest rate
the hub sustains (`judge`) is the figure set against hello-world. A closed-loop burst (C
concurrent senders for D seconds) runs first and is kept as burst intake, comparable with earlier
runs. Webhook-to-agent latency is open-loop at half the sustained rate, measured from the
scheduled send time. 10% of the sends repeat an earlier MessageSid (Twilio's retries); the hub
must offer each MessageSid exactly once.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
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


async def fresh_database(db: str, pg_name: str = "crmhub_bench") -> str:
    """A new SQLite file, or a new database on the local PostgreSQL (dropped and recreated).

    `CRMHUB_BENCH_PG_DB` names that database (default `pg_name`): two benchmark runs sharing
    the machine must not drop each other's database."""
    if db == "sqlite":
        return f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='crmhub-bench-')}/hub.db"
    import asyncpg

    name = os.environ.get("CRMHUB_BENCH_PG_DB", pg_name)
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
    agents: int,
    db: str = "sqlite",
    *,
    env: dict[str, str] | None = None,
    pg_name: str = "crmhub_bench",
) -> tuple[HubProcess, str, str]:
    """A hub process on a fresh database; returns it, its database URL and its public URL."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    db_url = await fresh_database(db, pg_name)
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


def cpu_seconds(pid: int) -> float:
    """utime + stime of process `pid` (all its threads: the SQLite ones too)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def metric(url: str, sample: str) -> float:
    """One sample of the hub's /metrics, by its full name with labels (0 when absent).

    The hub runs one statement per GET /metrics (the queued count, hub/api/ops.py)."""
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def console_backlog(url: str) -> float:
    """crmhub_bus_backlog{group="console"} from the hub's /metrics (events not yet emitted)."""
    return await metric(url, 'crmhub_bus_backlog{group="console"}')


# CRMHUB_BENCH_B1_DRAIN=offers: a phase starts once the last one's offers are wrapped up, while
# the console group may still be emitting the assignments and wrap-ups they caused (offers
# travel in a consumer group of their own and need not wait for those; the tail still costs the
# hub's CPU). The default also waits for the console group's backlog, as earlier runs did.
DRAIN_CONSOLE = os.environ.get("CRMHUB_BENCH_B1_DRAIN", "console") != "offers"


async def drain(url: str, seen: dict[str, list[float]], timeout: float = 60.0) -> bool:
    """Wait until every offer seen so far is accepted and wrapped up and the hub has emitted
    what that caused (a wrap-up is acknowledged before the broadcaster has emitted its events),
    so the next phase measures a steady state, not the last one's tail. False on timeout."""
    deadline = time.perf_counter() + timeout
    while Console.wrapped < sum(len(v) for v in seen.values()):
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.05)  # acks arrive on many sockets: polling the tally is simplest
    while DRAIN_CONSOLE and await console_backlog(url) > 0:  # the backlog lives in the hub
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


@dataclass
class Sends:
    """What one open-loop run sent: each unique body's scheduled time (of its first send) and
    how HTTP answered, timed from the scheduled send."""

    rate: float
    sent: int
    scheduled: dict[str, float] = field(default_factory=dict)
    http_lat: list[float] = field(default_factory=list)
    late: list[float] = field(default_factory=list)  # the generator's own lateness per send
    errors: int = 0


async def send_open_loop(
    url: str, public: str, rate: float, seconds: float, *, first: int = 0
) -> Sends:
    """Fixed schedule of `rate` x `seconds` sends; 10% repeat the previous MessageSid (with the
    same body). Sequence numbers start at `first`, so runs on one hub never share a MessageSid
    or a sender (a sender with an open interaction would get no new offer)."""
    out = Sends(rate, int(rate * seconds))
    start = time.perf_counter() + 0.2

    async def send(http: aiohttp.ClientSession, i: int) -> None:
        n = first + (i - 1 if i % 10 == 9 else i)  # a duplicate of the previous message
        body = f"b1-{n}"
        at = start + i / rate
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        out.late.append(time.perf_counter() - at)
        out.scheduled.setdefault(body, at)
        form = sms_form(f"SMB1{n:010d}", f"+16502{n % 1_000_000:06d}", body)
        sig = twilio_signature(AUTH_TOKEN, public + PATH, form)
        try:
            async with http.post(url + PATH, data=form, headers={"X-Twilio-Signature": sig}) as r:
                await r.read()
                out.errors += r.status >= 400
        except aiohttp.ClientError:
            out.errors += 1
        out.http_lat.append(time.perf_counter() - at)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as http:
        await asyncio.gather(*(send(http, i) for i in range(out.sent)))
    return out


async def wait_offered(sends: Sends, seen: dict[str, list[float]], timeout: float = 60.0) -> None:
    """Until every unique body of `sends` is offered at a console ("lost" = not within this)."""
    deadline = time.perf_counter() + timeout
    while sum(b in seen for b in sends.scheduled) < len(sends.scheduled):
        if time.perf_counter() > deadline:
            return
        await asyncio.sleep(0.05)  # offers arrive on 50 sockets: polling the tally is simplest


def summary(sends: Sends, seen: dict[str, list[float]]) -> dict[str, Any]:
    """Latency percentiles and the exactly-once accounting of one open-loop run."""
    to_agent = [seen[b][0] - at for b, at in sends.scheduled.items() if b in seen]
    return {
        "sent": sends.sent,
        "unique": len(sends.scheduled),
        "lost": sum(1 for b in sends.scheduled if b not in seen),
        "duplicates": sum(len(seen[b]) - 1 for b in sends.scheduled if b in seen),
        "errors": sends.errors,
        "http_p50_ms": pct(sends.http_lat, 0.5) * 1e3,
        "http_p99_ms": pct(sends.http_lat, 0.99) * 1e3,
        "agent_p50_ms": pct(to_agent, 0.5) * 1e3,
        "agent_p99_ms": pct(to_agent, 0.99) * 1e3,
        "agent_p999_ms": pct(to_agent, 0.999) * 1e3,
    }


async def open_loop(
    url: str,
    public: str,
    rate: float,
    seconds: float,
    seen: dict[str, list[float]],
    *,
    first: int = 0,
) -> dict[str, Any]:
    """One open-loop run, waited for until every MessageSid is offered (or a minute passes)."""
    sends = await send_open_loop(url, public, rate, seconds, first=first)
    await wait_offered(sends, seen)
    return summary(sends, seen)


# A step is sustained when all of these hold (docs/performance.md, B1):
LAG_BOUND_S = 1.0  # every unique MessageSid offered within this of its scheduled send
HTTP_P99_BOUND_S = 1.0  # HTTP p99, from the scheduled send, below this; and no HTTP error
LAG_SLOPE_BOUND = 0.1  # the lag grows by less than this per second of schedule (see `judge`)


@dataclass
class Step:
    """One rate of the stepped open loop and the verdict on it."""

    sends: Sends
    stats: dict[str, Any]
    slope: float  # the lag's growth per second of schedule
    why_not: str  # "" when sustained, else the first rule it broke

    @property
    def sustained(self) -> bool:
        return not self.why_not


def judge(sends: Sends, seen: dict[str, list[float]]) -> Step:
    """Did the hub sustain this step's rate? Three rules, the first broken one is reported:

    1. no HTTP error and HTTP p99 (from the scheduled send) <= HTTP_P99_BOUND_S: the endpoint
       keeps up with the arrivals;
    2. every unique MessageSid offered at a console within LAG_BOUND_S of its scheduled send (so
       none lost, and the step's last offer at most that long after its last scheduled send);
    3. the lag does not grow: (median lag of the last fifth of the step's MessageSids - median
       lag of the first fifth) / (the time between their median scheduled sends) <=
       LAG_SLOPE_BOUND. A hub that hands offers to the consoles at mu < rate per second falls
       behind by (1 - mu / rate) s per second, so this says mu >= 0.9 x the offered rate; rule 2
       alone would pass a 4 s step at 0.75 x.
    """
    stats = summary(sends, seen)
    order = sorted(sends.scheduled.items(), key=lambda kv: kv[1])
    lags = [(at, seen[b][0] - at if b in seen else float("inf")) for b, at in order]
    fifth = max(1, len(lags) // 5)
    head, tail = lags[:fifth], lags[-fifth:]
    span = statistics.median(a for a, _ in tail) - statistics.median(a for a, _ in head)
    grew = statistics.median(lag for _, lag in tail) - statistics.median(lag for _, lag in head)
    slope = grew / span if span > 0 else 0.0
    late = sum(1 for _, lag in lags if lag > LAG_BOUND_S)
    why = ""
    if sends.errors:
        why = f"{sends.errors} HTTP errors"
    elif pct(sends.http_lat, 0.99) > HTTP_P99_BOUND_S:
        why = f"HTTP p99 {pct(sends.http_lat, 0.99):.2f} s > {HTTP_P99_BOUND_S:.0f} s"
    elif late:
        why = f"{late} of {len(lags)} offered > {LAG_BOUND_S:.0f} s after schedule"
    elif slope > LAG_SLOPE_BOUND:
        why = f"lag grew {slope * 1e3:.0f} ms per s (> {LAG_SLOPE_BOUND * 1e3:.0f})"
    return Step(sends, stats, slope, why)


@dataclass
class Stepped:
    steps: list[Step]
    stopped: str  # why the stepping ended

    @property
    def sustained(self) -> Step | None:
        """The highest sustained step (steps stop at the first that is not)."""
        ok = [s for s in self.steps if s.sustained]
        return ok[-1] if ok else None


async def stepped(
    public: str,
    seen: dict[str, list[float]],
    *,
    start: float,
    factor: float,
    seconds: float,
    max_steps: int,
    max_rate: float,
    budget_s: float,
    first: int,
) -> Stepped:
    """Open-loop steps at start, start x factor, ... for `seconds` each, until the first step
    the hub does not sustain, `max_steps`, a rate above `max_rate`, or `budget_s` spent. Each
    step waits for its offers and drains the consoles before the next: a step's verdict is not
    the previous step's backlog."""
    steps: list[Step] = []
    ends = time.perf_counter() + budget_s
    rate = start
    while True:
        sends = await send_open_loop(public, public, rate, seconds, first=first)
        first += sends.sent
        await wait_offered(sends, seen)
        steps.append(judge(sends, seen))
        if not await drain(public, seen):
            return Stepped(steps, "the consoles did not drain within 60 s")
        if not steps[-1].sustained:
            return Stepped(steps, "first step not sustained")
        rate *= factor
        if len(steps) >= max_steps:
            return Stepped(steps, f"{max_steps} steps (all sustained)")
        if rate > max_rate:
            return Stepped(steps, f"next rate above {max_rate:.0f}/s (all sustained)")
        if time.perf_counter() + seconds + LAG_BOUND_S > ends:
            return Stepped(steps, f"time budget {budget_s:.0f} s (all sustained)")


async def run(smoke: bool = False, db: str = "sqlite") -> list[tuple[str, str, str]]:
    seconds = 1.5 if smoke else 8.0
    concurrency = 8 if smoke else 32
    agents = 3 if smoke else 50
    # Steps: 10, 15, 22, 34, 51, 76, 114, ... /s, 4 s each (smoke: 10 and 20/s, 1 s each).
    step_start, step_factor = 10.0, (2.0 if smoke else 1.5)
    step_s, max_steps, budget_s = (1.0, 2, 20.0) if smoke else (4.0, 12, 150.0)
    rows: list[tuple[str, str, str]] = []
    base: dict[str, Result] = {}
    for mode in ("hello", "signature"):
        proc, url = await start_baseline(mode)
        try:
            base[mode] = await closed_loop(url, url, seconds, concurrency)
        finally:
            proc.terminate()
            await proc.wait()
    hello = base["hello"].rps
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
        # Burst intake, closed loop (the figure earlier runs reported as throughput).
        began = time.perf_counter()
        hub_result = await closed_loop(public, public, seconds, concurrency)
        # Let the backlog drain (every throughput message offered) before the open loops.
        sent = int(hub_result.rps * seconds)
        drained = time.perf_counter() + 60
        while len(seen) < sent * 0.99 and time.perf_counter() < drained:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        # End to end: every accepted webhook offered at a console, until the last offer.
        last = max((v[0] for v in seen.values()), default=began)
        end_to_end = len(seen) / max(last - began, 1e-9)
        await drain(public, seen)
        steps = await stepped(
            public,
            seen,
            start=step_start,
            factor=step_factor,
            seconds=step_s,
            max_steps=max_steps,
            max_rate=hello,
            budget_s=budget_s,
            first=0,
        )
        best = steps.sustained
        # Latency at half the sustained rate, on a drained hub (`stepped` drained it).
        rate = max(5.0, (best.sends.rate if best else step_start) / 2)
        first = sum(s.sends.sent for s in steps.steps)
        backlog_at_start = await console_backlog(public)
        latency = await open_loop(public, public, rate, seconds, seen, first=first)
    finally:
        for c in consoles:
            await c.sio.disconnect()
        await hub.stop()
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
    top = steps.steps[-1]
    rows.append(
        (
            f"B1 sustained (stepped open loop) ({db})",
            f"{best.sends.rate:.3g} msg/s" if best else f"below {step_start:.0f} msg/s",
            f"{(best.sends.rate if best else 0) / hello:.3f} x hello (target >= 0.35); "
            + (steps.stopped if top.sustained else f"{top.sends.rate:.3g}/s: {top.why_not}"),
        )
    )
    rows.append(
        (
            f"B1 open-loop steps ({step_s:.0f} s each): webhook -> agent p99",
            ", ".join(
                f"{s.sends.rate:.3g}/s {s.stats['agent_p99_ms']:.0f} ms"
                + ("" if s.sustained else " (not sustained)")
                for s in steps.steps
            ),
            (
                f"lag growth at the top step {top.slope * 1e3:.0f} ms/s; generator late p99 "
                f"{max(pct(s.sends.late, 0.99) for s in steps.steps) * 1e3:.1f} ms"
            ),
        )
    )
    rows.append(
        (
            "B1 exactly once over the steps",
            f"{sum(s.stats['unique'] for s in steps.steps)} unique of "
            f"{sum(s.sends.sent for s in steps.steps)} sent",
            f"lost {sum(s.stats['lost'] for s in steps.steps)}, "
            f"duplicate offers {sum(s.stats['duplicates'] for s in steps.steps)}",
        )
    )
    rows.append(
        (
            f"B1 hub webhook throughput, closed loop ({db})",
            f"{hub_result.rps:.0f} req/s",
            f"{hub_result.rps / hello:.3f} x hello (burst intake, {concurrency} senders)",
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
            f"B1 webhook -> agent at {rate:.3g}/s (half the sustained rate)"
            + ("" if DRAIN_CONSOLE else f", console backlog {backlog_at_start:.0f} at the start"),
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

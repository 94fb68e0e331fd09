"""What every fault test needs: hub processes on PostgreSQL + Redis, a Redis of the test's own
(to stop and restart), a Twilio-like webhook sender that retries, consoles that accept what they
are offered, and the invariants every fault test ends with."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from sqlmodel import col, select

from hub.context import Hub
from hub.models import Agent, Interaction, Message, Offer
from tests.conftest import TEST_AUTH_TOKEN, TEST_PUBLIC_URL
from tests.support.agent_client import AgentClient
from tests.support.hubs import PASSWORD, add_agent
from tests.support.processes import HubProcess, free_port, until
from tests.support.twilio_signing import sms_form, twilio_signature

TWILIO_TIMEOUT_S = 15.0  # Twilio gives up on a webhook after 15 s
SID_PREFIX = "SMfault"


def hub_env(pg_url: str, redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    return {
        "CRMHUB_DATABASE_URL": pg_url,
        "CRMHUB_REDIS_URL": redis_url,
        "CRMHUB_REDIS_PREFIX": prefix,
        "CRMHUB_PUBLIC_BASE_URL": TEST_PUBLIC_URL,
        "CRMHUB_TWILIO__AUTH_TOKEN": TEST_AUTH_TOKEN,
        "CRMHUB_TWILIO__ACCOUNT_SID": "AC" + "0" * 32,
        "CRMHUB_TWILIO__FROM_NUMBER": "+15550001111",
        "CRMHUB_TWILIO__API_BASE_URL": "http://127.0.0.1:9",
        "CRMHUB_ROUTING__TICK_S": "0.2",
        "CRMHUB_ROUTING__OFFER_TIMEOUT_S": "3",
        "CRMHUB_ROUTING__MAX_MISSED_OFFERS": "1000",
        "CRMHUB_ROUTING__EXCLUSION_S": "5",
        "CRMHUB_BUS_CLAIM_AFTER_S": "2",
        "CRMHUB_SEND_CLAIM_S": "3",
        "CRMHUB_LOG_LEVEL": "WARNING",
        **extra,
    }


class PrivateRedis:
    """A redis-server of the test's own: stopping the machine's Redis would break other tests."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await until(self._up, timeout=10, what="redis-server to answer")

    async def _up(self) -> bool:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        writer.write(b"PING\r\n")
        line = await reader.readline()
        writer.close()
        return line.startswith(b"+PONG")

    async def kill(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def add_agents(hub: Hub, count: int, sms_capacity: int) -> list[Agent]:
    out = []
    for n in range(count):
        agent = await add_agent(hub, f"agent{n}")
        async with hub.store.transaction() as s:
            row = await s.get(Agent, agent.id)
            assert row is not None
            row.capacity = {"sms": sms_capacity}
            s.add(row)
            out.append(row)
    return out


@dataclass
class Webhooks:
    """Signed SMS webhooks on a fixed schedule (open loop), each retried like Twilio does on an
    error or a timeout, to the next hub process in the list, until accepted or `give_up_s`."""

    urls: list[str]
    give_up_s: float = 90.0
    accepted: set[str] = field(default_factory=set)
    outcomes: Counter[str] = field(default_factory=Counter)
    retry_after_seen: int = 0

    async def deliver(self, http: aiohttp.ClientSession, n: int) -> None:
        sid = f"{SID_PREFIX}{n}"
        form = sms_form(sid, f"+1415556{n % 10_000:04d}", f"fault message {n}")
        sig = twilio_signature(TEST_AUTH_TOKEN, TEST_PUBLIC_URL + "/webhooks/twilio/sms", form)
        deadline = time.monotonic() + self.give_up_s
        for attempt in itertools.count():
            url = self.urls[(n + attempt) % len(self.urls)]
            try:
                async with http.post(
                    f"{url}/webhooks/twilio/sms",
                    data=form,
                    headers={"X-Twilio-Signature": sig},
                    timeout=aiohttp.ClientTimeout(total=TWILIO_TIMEOUT_S),
                ) as resp:
                    self.outcomes[str(resp.status)] += 1
                    if resp.status == 200:
                        self.accepted.add(sid)
                        return
                    if 400 <= resp.status < 500 and resp.status != 429:
                        return  # the request itself is wrong: no retry fixes it
                    if resp.headers.get("Retry-After"):
                        self.retry_after_seen += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.outcomes[type(exc).__name__] += 1
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(min(0.2 * 2**attempt, 2.0))

    async def run(self, count: int, rate_per_s: float, start: int = 0) -> None:
        async with aiohttp.ClientSession() as http:

            async def scheduled(n: int) -> None:
                await asyncio.sleep((n - start) / rate_per_s)
                await self.deliver(http, n)

            await asyncio.gather(*(scheduled(n) for n in range(start, start + count)))


class AcceptingConsole(AgentClient):
    """A console whose agent accepts every offer (and keeps trying other hubs if its own dies)."""

    def __init__(self, username: str, urls: list[str]) -> None:
        super().__init__()
        self.username = username
        self.urls = urls
        self.accepted: list[str] = []
        self.errors: list[str] = []
        self.offers = self.expired = self.arrived_expired = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self, http: aiohttp.ClientSession) -> None:
        for url in itertools.cycle(self.urls):
            try:
                async with http.post(
                    f"{url}/api/auth/login", json={"username": self.username, "password": PASSWORD}
                ) as resp:
                    token = (await resp.json())["token"]
                await self.connect(url, token)
                break
            except (aiohttp.ClientError, OSError, Exception):
                await asyncio.sleep(0.2)
        assert (await self.call("status", {"status": "available"}))["ok"]
        self._task = asyncio.create_task(self._accept_offers())

    async def _accept_offers(self) -> None:
        while True:
            offer = await self.next("offer", timeout=3600)
            interaction_id = offer["interaction"]["id"]
            if datetime.fromisoformat(offer["expires_at"]) <= datetime.now(UTC):
                self.expired += 1  # its countdown ran out while older offers were accepted
                continue
            try:
                ack = await self.call("accept", {"interaction_id": interaction_id})
            except Exception as exc:  # a dying hub; the offer times out and comes back
                self.errors.append(repr(exc))
                continue
            if ack.get("ok"):
                self.accepted.append(interaction_id)
            else:
                self.errors.append(str(ack))

    def summary(self) -> dict[str, Any]:
        return {
            "user": self.username,
            "connected": self.sio.connected,
            "offers": self.offers,
            "arrived_expired": self.arrived_expired,
            "expired": self.expired,
            "accepted": len(self.accepted),
            "errors": self.errors[-3:],
        }

    def received(self, name: str, data: Any) -> None:
        if name == "offer":
            self.offers += 1
            if datetime.fromisoformat(data["expires_at"]) <= datetime.now(UTC):
                self.arrived_expired += 1

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self.sio.connected:
            await self.close()


async def state_of(hub: Hub) -> tuple[list[Message], list[Interaction], list[Offer], list[Agent]]:
    async with hub.store.session() as s:
        messages = list(
            (
                await s.exec(
                    select(Message).where(col(Message.provider_ref).startswith(SID_PREFIX))
                )
            ).all()
        )
        its = list((await s.exec(select(Interaction))).all())
        offers = list((await s.exec(select(Offer))).all())
        agents = list((await s.exec(select(Agent))).all())
    return messages, its, offers, agents


async def settled(hub: Hub) -> bool:
    """Routing has caught up: no offer is still ringing (the consoles accept at once; a dead
    console's offer times out and is made again), and either nothing waits or every available
    agent is full. An offer made a moment ago used to count as settled before it was accepted."""
    _messages, its, offers, agents = await state_of(hub)
    if any(o.outcome == "pending" for o in offers):
        return False
    held: Counter[str] = Counter()
    for it in its:
        if it.state in ("offered", "assigned"):
            held[
                (it.offered_agent_id if it.state == "offered" else it.assigned_agent_id) or ""
            ] += 1
    waiting = sum(it.state == "queued" for it in its)
    room = sum(
        max(0, a.capacity.get("sms", 0) - held[a.id]) for a in agents if a.status == "available"
    )
    return waiting == 0 or room == 0


async def describe(hub: Hub) -> str:
    """What routing looks like now: for a test that timed out waiting for it to settle."""
    _messages, its, offers, agents = await state_of(hub)
    pending = [o for o in offers if o.outcome == "pending"]
    return (
        f"interactions {dict(Counter(it.state for it in its))}, "
        f"offers {dict(Counter(o.outcome for o in offers))}, "
        f"pending {[(o.interaction_id, o.agent_id, str(o.expires_at)) for o in pending][:5]}, "
        f"agents {[(a.username, a.status, a.capacity) for a in agents]}"
    )


async def wait_settled(
    hub: Hub,
    timeout: float = 60.0,
    consoles: Sequence[AcceptingConsole] = (),
    procs: Sequence[HubProcess] = (),
) -> None:
    try:
        await until(lambda: settled(hub), timeout=timeout, what="routing to settle")
    except TimeoutError:
        seen = [c.summary() for c in consoles]
        logs = "".join(f"\n--- {p.url} log:\n{p.log_tail()}" for p in procs)
        raise AssertionError(
            f"routing not settled after {timeout} s: {await describe(hub)}; consoles {seen}{logs}"
        ) from None


async def check_invariants(hub: Hub, accepted: set[str]) -> dict[str, Any]:
    """Every accepted contact stored exactly once; every interaction routed or queued (none in
    limbo); never two live offers for one interaction; no agent over capacity."""
    messages, its, offers, agents = await state_of(hub)
    stored = Counter(m.provider_ref for m in messages)
    missing = accepted - set(stored)
    duplicated = {sid: n for sid, n in stored.items() if n > 1}
    assert not missing, f"accepted but not stored: {sorted(missing)[:10]}"
    assert not duplicated, f"stored more than once: {duplicated}"
    assert {it.state for it in its} <= {"queued", "offered", "assigned", "closed"}, Counter(
        it.state for it in its
    )
    by_interaction: dict[str, list[Offer]] = defaultdict(list)
    for o in offers:
        by_interaction[o.interaction_id].append(o)
    for rows in by_interaction.values():
        assert sum(o.outcome == "pending" for o in rows) <= 1, "two live offers"
    held: Counter[str] = Counter()
    for it in its:
        holder = it.offered_agent_id if it.state == "offered" else it.assigned_agent_id
        if it.state in ("offered", "assigned") and holder:
            held[holder] += 1
    for agent in agents:
        assert held[agent.id] <= agent.capacity.get("sms", 0), f"{agent.username} over capacity"
    return {
        "stored": len(stored),
        "accepted": len(accepted),
        "states": dict(Counter(it.state for it in its)),
    }


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (initdb in /tmp, run as the postgres user), so
    the test can restart it without touching the server every other test uses."""

    def __init__(self) -> None:
        import glob

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        self.bin = bins[-1] if bins else ""
        self.port = free_port()
        self.dir = ""
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def available(self) -> str | None:
        """Why it cannot run here, or None."""
        import os
        import shutil

        if not self.bin:
            return "no PostgreSQL server binaries under /usr/lib/postgresql"
        if os.geteuid() != 0 or shutil.which("runuser") is None:
            return "needs root to run a private cluster as the postgres user"
        return None

    async def _as_postgres(self, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            "runuser",
            "-u",
            "postgres",
            "--",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        assert proc.returncode == 0, out.decode(errors="replace")[-2000:]

    async def start(self) -> None:
        import shutil
        import tempfile

        self.dir = tempfile.mkdtemp(prefix="crmhub-pg-", dir="/tmp")
        shutil.chown(self.dir, "postgres", "postgres")
        await self._as_postgres(
            f"{self.bin}/initdb",
            "-D",
            f"{self.dir}/data",
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        )
        await self.pg_ctl("start")

    async def pg_ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200"
        )
        await self._as_postgres(
            f"{self.bin}/pg_ctl",
            "-D",
            f"{self.dir}/data",
            "-o",
            options,
            "-w",
            "-l",
            f"{self.dir}/server.log",
            *extra,
            action,
        )

    async def restart_immediately(self) -> None:
        """Like a crash and a recovery: `-m immediate` skips the shutdown checkpoint."""
        await self.pg_ctl("restart", "-m", "immediate")

    async def stop(self) -> None:
        import shutil

        if self.dir:
            with contextlib.suppress(AssertionError):
                await self.pg_ctl("stop", "-m", "immediate")
            shutil.rmtree(self.dir, ignore_errors=True)

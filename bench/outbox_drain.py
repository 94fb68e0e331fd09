"""B5, outbox drain: N outbound SMS to a local Twilio-like API that answers 429 to 10% of first
attempts, and N emails to an aiosmtpd server that answers 451 to 20% of first attempts, drained
by a real `python -m hub serve` (its outbox relay) from a standing start. Baseline in the same
run: a raw loop that sends the same messages with aiosmtplib / aiohttp, retrying at once.
Exactly one delivery per message is checked at both servers."""

from __future__ import annotations

import asyncio
import hashlib
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import aiohttp
import aiosmtplib
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from tests.support.processes import HubProcess, free_port

ACCOUNT = "AC" + "0" * 32
MSGID = re.compile(rb"^Message-ID:\s*<([^>]+)>", re.IGNORECASE | re.MULTILINE)


def unlucky(key: str, percent: int) -> bool:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100 < percent


@dataclass
class SmtpHandler:
    """451 on the first attempt of 20% of messages; counts deliveries per Message-ID."""

    attempts: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        found = MSGID.search(envelope.original_content or b"")
        mid = found.group(1).decode() if found else "?"
        self.attempts[mid] += 1
        if self.attempts[mid] == 1 and unlucky(mid, 20):
            return "451 4.3.0 try again later"
        self.delivered[mid] += 1
        return "250 OK"


@dataclass
class SmsApi:
    """429 on the first attempt of 10% of messages; counts accepted bodies."""

    attempts: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        body = str(form.get("Body", ""))
        self.attempts[body] += 1
        if self.attempts[body] == 1 and unlucky(body, 10):
            return web.json_response(
                {"code": 20429, "message": "Too Many Requests", "status": 429}, status=429
            )
        self.delivered[body] += 1
        sid = "SM" + hashlib.sha256(body.encode()).hexdigest()[:32]
        return web.json_response(
            {"sid": sid, "status": "queued", "account_sid": ACCOUNT, "body": body}, status=201
        )


async def start_servers() -> tuple[SmtpHandler, Controller, SmsApi, TestServer]:
    smtp = SmtpHandler()
    controller = Controller(smtp, hostname="127.0.0.1", port=free_port())
    controller.start()
    api = SmsApi()
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", api.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return smtp, controller, api, server


async def raw_loops(n: int, smtp_port: int, api_url: str) -> float:
    """What the hub competes with: send each message, retry at once on 451/429."""
    started = time.perf_counter()
    for i in range(n):
        msg = EmailMessage()
        msg["From"], msg["To"] = "support@bench.example", f"c{i}@example.com"
        msg["Subject"], msg["Message-ID"] = "Re: order", f"<raw-{i}@bench.example>"
        msg.set_content(f"raw email {i}")
        while True:
            try:
                await aiosmtplib.send(msg, hostname="127.0.0.1", port=smtp_port, start_tls=False)
                break
            except aiosmtplib.SMTPResponseException:
                continue
    async with aiohttp.ClientSession() as http:
        url = f"{api_url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
        for i in range(n):
            form = {"To": f"+1650{i:07d}", "From": "+15550001111", "Body": f"raw sms {i}"}
            while True:
                async with http.post(url, data=form, auth=aiohttp.BasicAuth(ACCOUNT, "x")) as r:
                    await r.read()
                    if r.status != 429:
                        break
    return time.perf_counter() - started


async def seed(db_url: str, n: int) -> None:
    """N SMS and N email replies waiting in the outbox, as if agents had just sent them."""
    from hub.app import build_hub
    from hub.models import Customer, Interaction, Message, OutboxEntry
    from hub.settings import Settings

    hub = build_hub(Settings(database_url=db_url, redis_url="", run_background=False))
    await hub.store.migrate()
    try:
        for channel in ("sms", "email"):
            for chunk in range(0, n, 500):
                async with hub.store.transaction() as session:
                    for i in range(chunk, min(n, chunk + 500)):
                        customer = Customer(name=f"c{i}")
                        address = f"+1650{i:07d}" if channel == "sms" else f"c{i}@example.com"
                        it = Interaction(
                            customer_id=customer.id,
                            channel=channel,
                            state="assigned",
                            customer_address=address,
                            hub_address="+15550001111"
                            if channel == "sms"
                            else "support@bench.example",
                            subject="order" if channel == "email" else "",
                        )
                        msg = Message(
                            interaction_id=it.id,
                            channel=channel,
                            direction="out",
                            body=f"hub {channel} {i}",
                            status="queued",
                        )
                        out = OutboxEntry(
                            kind="send",
                            payload={"message_id": msg.id, "interaction_id": it.id},
                        )
                        session.add_all([customer, it, msg, out])
    finally:
        await hub.store.close()


async def drained(db_url: str) -> int:
    """Outbound sends not yet done."""
    from sqlmodel import col, func, select

    from hub.models import OutboxEntry
    from hub.store import Store

    store = Store(db_url)
    try:
        async with store.session() as session:
            return int(
                (
                    await session.exec(
                        select(func.count()).where(
                            OutboxEntry.kind == "send", col(OutboxEntry.done).is_(False)
                        )
                    )
                ).one()
            )
    finally:
        await store.close()


async def run(smoke: bool = False) -> list[tuple[str, str, str]]:
    n = 100 if smoke else 5000
    smtp, controller, api, server = await start_servers()
    api_url = str(server.make_url("")).rstrip("/")
    try:
        raw_s = await raw_loops(n, controller.port, api_url)
        for counter in (smtp.attempts, smtp.delivered, api.attempts, api.delivered):
            counter.clear()
        tmp = tempfile.mkdtemp(prefix="crmhub-b5-")
        db_url = f"sqlite+aiosqlite:///{tmp}/hub.db"
        await seed(db_url, n)
        hub = HubProcess(
            {
                "CRMHUB_DATABASE_URL": db_url,
                "CRMHUB_REDIS_URL": "",
                "CRMHUB_TWILIO__ACCOUNT_SID": ACCOUNT,
                "CRMHUB_TWILIO__AUTH_TOKEN": "bench",
                "CRMHUB_TWILIO__FROM_NUMBER": "+15550001111",
                "CRMHUB_TWILIO__API_BASE_URL": api_url,
                "CRMHUB_EMAIL__SMTP__HOST": "127.0.0.1",
                "CRMHUB_EMAIL__SMTP__PORT": str(controller.port),
                "CRMHUB_EMAIL__SMTP__STARTTLS": "false",
                "CRMHUB_EMAIL__SMTP__FROM_ADDR": "support@bench.example",
                "CRMHUB_EMAIL__POLL_IN_HUB": "false",
                "CRMHUB_LOG_LEVEL": "ERROR",
            }
        )
        await hub.start()  # it starts draining while it boots; the clock starts when it is ready
        started = time.perf_counter()
        try:
            deadline = time.perf_counter() + (60 if smoke else 900)
            while await drained(db_url) and time.perf_counter() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.2)  # the state lives in the hub process's database
            hub_s = time.perf_counter() - started
            left = await drained(db_url)
        finally:
            await hub.stop()
    finally:
        controller.stop()
        await server.close()
    emails_twice = sum(1 for c in smtp.delivered.values() if c > 1)
    sms_twice = sum(1 for c in api.delivered.values() if c > 1)
    return [
        (
            f"B5 outbox drain {n} SMS + {n} email (10% 429, 20% 451)",
            f"{hub_s:.1f} s ({2 * n / hub_s:.0f} msg/s)",
            f"{raw_s / hub_s:.2f} x raw send loop ({raw_s:.1f} s) (target >= 0.5)",
        ),
        (
            "B5 exactly once",
            f"{len(smtp.delivered)} emails, {len(api.delivered)} SMS delivered",
            f"left {left}, twice: {emails_twice} emails, {sms_twice} SMS",
        ),
    ]

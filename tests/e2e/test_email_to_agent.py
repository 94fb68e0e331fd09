"""Email end to end on real servers: a mail in dovecot reaches an agent as an offer, the reply
leaves over SMTP (aiosmtpd) threaded to it, and the customer's answer joins the same interaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from typing import Any

import pytest

from hub.app import create_app
from tests.support import dovecot as dovecot_support
from tests.support.agent_client import AgentClient
from tests.support.dovecot import Dovecot
from tests.support.hubs import add_agent, hub_of, login
from tests.support.services import missing
from tests.support.smtp_server import RecordingSmtpServer

MAIL = b"""From: Vera Customer <vera@example.com>
To: support@shop.example
Subject: Where is my order?
Message-ID: <first-mail@example.com>
Date: Mon, 23 Nov 2026 09:00:00 +0000
Content-Type: text/plain; charset=utf-8

Hello, my order 1234 has not arrived.
"""


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    if not dovecot_support.available():
        missing("dovecot", FileNotFoundError(dovecot_support.DOVECOT))
    server = Dovecot(idle=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp() -> Iterator[RecordingSmtpServer]:
    server = RecordingSmtpServer()
    server.start()
    yield server
    server.stop()


async def until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - aiosmtpd records from its own thread
            await asyncio.sleep(0.05)


@pytest.mark.slow
@pytest.mark.timeout(30)  # regression: the hub's shutdown stalled 60 s ending IMAP IDLE
async def test_mail_in_reply_out_threaded(
    aiohttp_client: Any,
    make_settings: Callable[..., Any],
    dovecot: Dovecot,
    smtp: RecordingSmtpServer,
) -> None:
    settings = make_settings(
        run_background=True,
        routing={"tick_s": 0.2},
        email={
            "mailboxes": [
                {
                    "host": dovecot.host,
                    "port": dovecot.port,
                    "username": dovecot.user,
                    "password": dovecot.password,
                    "use_ssl": False,
                    "poll_s": 0.5,
                    "idle_timeout_s": 5,
                }
            ],
            "smtp": {
                "host": smtp.host,
                "port": smtp.port,
                "starttls": False,
                "from_addr": "support@shop.example",
            },
        },
    )
    client = await aiohttp_client(create_app(settings))
    await add_agent(hub_of(client), "alice", display_name="Alice")
    console = AgentClient()
    await console.connect(str(client.make_url("/")), await login(client, "alice"))
    try:
        await console.call("status", {"status": "available"})
        await asyncio.to_thread(dovecot.append, MAIL)
        offer = await console.next("offer", timeout=20)
        assert offer["interaction"]["channel"] == "email"
        assert offer["interaction"]["subject"] == "Where is my order?"
        assert "order 1234" in offer["messages"][-1]["body"]
        interaction_id = offer["interaction"]["id"]
        await console.call("accept", {"interaction_id": interaction_id})
        ack = await console.call(
            "reply", {"interaction_id": interaction_id, "body": "It ships today."}
        )
        assert ack["ok"]
        await until(lambda: len(smtp.messages) == 1)
        sent = message_from_bytes(smtp.messages[0].content, policy=policy.default)
        assert sent["To"] == "vera@example.com"
        assert sent["Subject"] == "Re: Where is my order?"
        assert sent["In-Reply-To"] == "<first-mail@example.com>"
        our_id = str(sent["Message-ID"])

        answer = (
            b"From: vera@example.com\nTo: support@shop.example\nSubject: Re: Where is my"
            b" order?\nMessage-ID: <second@example.com>\nIn-Reply-To: "
            + our_id.encode()
            + b"\nReferences: <first-mail@example.com> "
            + our_id.encode()
            + b"\n\nThank you!\n"
        )
        await asyncio.to_thread(dovecot.append, answer)
        while True:
            created = await console.next("message.created", timeout=20)
            if created["body"].startswith("Thank you"):
                break
        assert created["interaction_id"] == interaction_id
    finally:
        await console.close()

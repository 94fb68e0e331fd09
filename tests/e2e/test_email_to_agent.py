"""Email end to end on real servers: a mail in dovecot reaches an agent as an offer, the reply
leaves over SMTP (aiosmtpd) threaded to it, and the customer's answer joins the same interaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from typing import Any

import pytest
from sqlmodel import select

from hub.app import create_app
from hub.models import Message
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
        token = "T-" + interaction_id[:10]
        assert sent["Subject"] == f"Re: Where is my order? [#{token}]"
        assert sent["In-Reply-To"] == "<first-mail@example.com>"
        assert sent["X-Crmhub-Loop"]
        lines = sent.get_content().splitlines()
        assert lines[0] == "It ships today."
        assert lines[2].endswith("Vera Customer wrote:")
        assert lines[3] == "> Hello, my order 1234 has not arrived."
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

        # A client that dropped In-Reply-To/References: the ticket token in the subject threads it.
        stripped = (
            f"From: vera@example.com\nTo: support@shop.example\nSubject: Re: Where is my order?"
            f" [#{token}]\nMessage-ID: <third@example.com>\n\nStill there?\n"
        ).encode()
        await asyncio.to_thread(dovecot.append, stripped)
        while True:
            created = await console.next("message.created", timeout=20)
            if created["body"].startswith("Still there"):
                break
        assert created["interaction_id"] == interaction_id

        # Our own reply read back (a Bcc copy to the support mailbox) and a stranger quoting the
        # token never land in Vera's ticket; the stranger gets an interaction of their own.
        await asyncio.to_thread(dovecot.append, smtp.messages[0].content)
        stranger = (
            f"From: mallory@example.net\nTo: support@shop.example\nSubject: [#{token}] hi\n"
            f"Message-ID: <fourth@example.net>\n\nLet me in\n"
        ).encode()
        await asyncio.to_thread(dovecot.append, stranger)
        offer = await console.next("offer", timeout=20)
        assert offer["messages"][-1]["body"].startswith("Let me in")
        assert offer["interaction"]["id"] != interaction_id
        hub = hub_of(client)
        async with hub.store.session() as session:
            bodies = (
                await session.exec(
                    select(Message.body).where(Message.interaction_id == interaction_id)
                )
            ).all()
        assert not any(b.startswith("Let me in") for b in bodies)
        assert sum(b.startswith("It ships today.") for b in bodies) == 1  # the copy was ignored
    finally:
        await console.close()

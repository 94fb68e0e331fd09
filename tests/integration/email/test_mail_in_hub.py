"""Mail through the hub's own worker (hub/mail.py) against a real dovecot: every message stored
exactly once across a dropped connection mid-fetch, a restart and a UIDVALIDITY change; our own
mail ignored; a reused Message-ID with other content kept; malformed mail kept raw."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import select

from hub.app import create_app
from hub.context import Hub
from hub.mail import mailbox_worker
from hub.models import Interaction, Message
from tests.support.dovecot import Dovecot
from tests.support.hubs import hub_of
from tests.support.tcp_proxy import TcpProxy
from tests.unit.email.conftest import CORPUS_DIR

pytestmark = pytest.mark.postgres


def mail(n: int, body: str = "", sender: str = "jane@example.com", extra: str = "") -> bytes:
    return (
        f"From: Jane <{sender}>\nTo: support@crmhub.test\nSubject: Question {n}\n"
        f"Message-ID: <q{n}@example.com>\n{extra}\n{body or f'Question number {n}'}\n"
    ).encode()


async def hub_for(
    db_url: str,
    aiohttp_client: Any,
    make_settings: Callable[..., Any],
    host: str,
    port: int,
    dovecot: Dovecot,
    mailbox: str = "INBOX",
) -> Hub:
    settings = make_settings(
        database_url=db_url,
        email={
            "mailboxes": [
                {
                    "host": host,
                    "port": port,
                    "username": dovecot.user,
                    "password": dovecot.password,
                    "mailbox": mailbox,
                    "use_ssl": False,
                }
            ],
            "smtp": {"host": "127.0.0.1", "port": 1, "from_addr": "Support <support@crmhub.test>"},
        },
    )
    return hub_of(await aiohttp_client(create_app(settings)))


async def stored(hub: Hub) -> list[tuple[str, str]]:
    async with hub.store.session() as session:
        rows = (await session.exec(select(Message).order_by(Message.created_at))).all()
    return [(m.provider_ref or "", m.body.strip()) for m in rows]


async def test_a_dropped_connection_mid_fetch_loses_and_duplicates_nothing(
    db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any], dovecot: Dovecot
) -> None:
    filler = "x" * 3000
    for n in range(1, 31):  # the worker fetches 25 per batch: the cut hits the second batch
        dovecot.append(mail(n, body=f"{n} {filler}"))
    proxy = TcpProxy(dovecot.host, dovecot.port)
    await proxy.start()
    try:
        hub = await hub_for(db_url, aiohttp_client, make_settings, proxy.host, proxy.port, dovecot)
        worker = mailbox_worker(hub, hub.settings.email.mailboxes[0])
        proxy.drop_after(25 * 3200 + 5000)  # a few messages into the second batch
        # Any network error aborts the run, at once: not after the 60 s command timeout.
        async with asyncio.timeout(10):
            with pytest.raises(Exception):  # noqa: B017
                await worker.run_once()
        assert proxy.cuts == 1
        partial = await stored(hub)
        assert len(partial) == 25  # the first batch, each stored before the checkpoint moved
        # A new worker (as after a restart) picks up from the checkpoint.
        restarted = mailbox_worker(hub, hub.settings.email.mailboxes[0])
        await restarted.run_once()
        refs = [ref for ref, _ in await stored(hub)]
        assert refs == [f"q{n}@example.com" for n in range(1, 31)]
    finally:
        await proxy.stop()


async def test_uidvalidity_change_and_reused_ids(
    db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any], dovecot: Dovecot
) -> None:
    dovecot.create_mailbox("Support")
    dovecot.append(mail(1), mailbox="Support")
    dovecot.append(mail(2), mailbox="Support")
    hub = await hub_for(
        db_url, aiohttp_client, make_settings, dovecot.host, dovecot.port, dovecot, "Support"
    )
    mailbox = hub.settings.email.mailboxes[0]
    await mailbox_worker(hub, mailbox).run_once()
    dovecot.delete_mailbox("Support")  # new UIDVALIDITY: everything is read again
    dovecot.create_mailbox("Support")
    dovecot.append(mail(1), mailbox="Support")
    dovecot.append(mail(2), mailbox="Support")
    # A broken sender reusing a Message-ID for a different mail: kept, under its own key.
    dovecot.append(mail(2, body="A different mail, same id"), mailbox="Support")
    await mailbox_worker(hub, mailbox).run_once()
    rows = await stored(hub)
    assert [body for _, body in rows] == [
        "Question number 1",
        "Question number 2",
        "A different mail, same id",
    ]
    assert rows[2][0].startswith("q2@example.com#")


async def test_own_mail_is_ignored_and_malformed_mail_is_kept_raw(
    db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any], dovecot: Dovecot
) -> None:
    dovecot.append(mail(1, sender="support@crmhub.test"))  # From one of our addresses
    dovecot.append(mail(2, extra="X-Crmhub-Loop: crmhub.test\n"))  # our header, any From
    dovecot.append(b"\x00\x01 this is not an email at all \xff\xfe")
    dovecot.append((CORPUS_DIR / "22_gb2312.eml").read_bytes())
    hub = await hub_for(db_url, aiohttp_client, make_settings, dovecot.host, dovecot.port, dovecot)
    await mailbox_worker(hub, hub.settings.email.mailboxes[0]).run_once()
    async with hub.store.session() as session:
        rows = (await session.exec(select(Interaction).order_by(Interaction.created_at))).all()
        messages = (await session.exec(select(Message).order_by(Message.created_at))).all()
    assert [it.subject for it in rows] == ["Unreadable mail (IMAP INBOX uid 3)", "关于我的订单"]
    assert [it.state for it in rows] == ["queued", "queued"]  # both are work for a human
    assert "this is not an email at all" in messages[0].body
    assert messages[0].meta["malformed"]
    assert messages[1].body.startswith("您好")

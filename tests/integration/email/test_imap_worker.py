"""ImapMailboxWorker against a real dovecot: order, checkpoints, UIDVALIDITY, retries, IDLE."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import pytest

from channels.email_imap import (
    HandlerError,
    ImapMailboxWorker,
    ImapSettings,
    InMemoryCheckpointStore,
    parse_fetch,
    parse_search,
)
from channels.email_parse import parse_email
from tests.support.dovecot import Dovecot


def mail(n: int) -> bytes:
    return (
        f"From: Customer {n} <customer{n}@example.com>\r\nTo: support@crmhub.test\r\n"
        f"Subject: Question {n}\r\nMessage-ID: <msg-{n}@example.com>\r\n"
        f"Date: Mon, 08 Jan 2024 10:00:0{n % 10} +0000\r\n\r\nBody {n}\r\n"
    ).encode()


@dataclass
class Inbox:
    """The hub side: records (uid, Message-ID) and can be told to fail or signal."""

    received: list[tuple[int, str]] = field(default_factory=list)
    fail_uids: set[int] = field(default_factory=set)
    events: dict[str, asyncio.Event] = field(default_factory=dict)

    async def __call__(self, raw: bytes, uid: int) -> None:
        if uid in self.fail_uids:
            self.fail_uids.discard(uid)  # fail once, like a database hiccup
            raise RuntimeError("database unavailable")
        ref = parse_email(raw).provider_ref
        self.received.append((uid, ref))
        self.event(ref).set()

    def event(self, ref: str) -> asyncio.Event:
        return self.events.setdefault(ref, asyncio.Event())

    @property
    def refs(self) -> list[str]:
        return [ref for _, ref in self.received]


def settings_for(server: Dovecot, **overrides: object) -> ImapSettings:
    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "username": server.user,
        "password": server.password,
        "use_ssl": False,
        "poll_s": 3600.0,
        "idle_timeout_s": 600.0,
    }
    values.update(overrides)
    return ImapSettings(**values)  # type: ignore[arg-type]


async def test_new_messages_are_delivered_once_in_uid_order(dovecot: Dovecot) -> None:
    for n in (1, 2, 3):
        dovecot.append(mail(n))
    store, inbox = InMemoryCheckpointStore(), Inbox()
    worker = ImapMailboxWorker(settings_for(dovecot), store, inbox, batch_size=2)
    assert await worker.run_once() == 3
    assert inbox.received == [
        (1, "msg-1@example.com"),
        (2, "msg-2@example.com"),
        (3, "msg-3@example.com"),
    ]
    # "UID FETCH 4:*" would return uid 3 again: it must be filtered out.
    assert await worker.run_once() == 0
    assert len(inbox.received) == 3
    assert await store.load(worker.settings.key) == (dovecot.uidvalidity(), 3)


async def test_checkpoint_survives_a_new_worker_instance(dovecot: Dovecot) -> None:
    store, inbox = InMemoryCheckpointStore(), Inbox()
    dovecot.append(mail(1))
    dovecot.append(mail(2))
    assert await ImapMailboxWorker(settings_for(dovecot), store, inbox).run_once() == 2
    dovecot.append(mail(3))
    restarted = ImapMailboxWorker(settings_for(dovecot), store, inbox)
    assert await restarted.run_once() == 1
    assert inbox.refs == ["msg-1@example.com", "msg-2@example.com", "msg-3@example.com"]


async def test_uidvalidity_change_resyncs_the_mailbox(dovecot: Dovecot) -> None:
    dovecot.create_mailbox("Support")
    for n in (1, 2):
        dovecot.append(mail(n), mailbox="Support")
    store, inbox = InMemoryCheckpointStore(), Inbox()
    settings = settings_for(dovecot, mailbox="Support")
    assert await ImapMailboxWorker(settings, store, inbox).run_once() == 2
    old_validity, _ = await store.load(settings.key)

    dovecot.delete_mailbox("Support")  # recreated: same name, new UIDVALIDITY, UIDs restart
    dovecot.create_mailbox("Support")
    dovecot.append(mail(2), mailbox="Support")
    dovecot.append(mail(3), mailbox="Support")
    new_validity = dovecot.uidvalidity("Support")
    assert new_validity != old_validity

    assert await ImapMailboxWorker(settings, store, inbox).run_once() == 2
    # uid 1 and 2 again, although the old checkpoint said 2: the hub dedupes msg-2 by Message-ID.
    assert inbox.received[2:] == [(1, "msg-2@example.com"), (2, "msg-3@example.com")]
    assert await store.load(settings.key) == (new_validity, 2)


async def test_callback_failure_retries_the_message_instead_of_losing_it(
    dovecot: Dovecot,
) -> None:
    for n in (1, 2, 3):
        dovecot.append(mail(n))
    store, inbox = InMemoryCheckpointStore(), Inbox(fail_uids={2})
    worker = ImapMailboxWorker(settings_for(dovecot), store, inbox)
    with pytest.raises(HandlerError) as failed:
        await worker.run_once()
    assert failed.value.uid == 2
    assert inbox.refs == ["msg-1@example.com"]
    assert (await store.load(worker.settings.key))[1] == 1  # not past the failed message
    assert await worker.run_once() == 2
    assert inbox.refs == ["msg-1@example.com", "msg-2@example.com", "msg-3@example.com"]


async def test_idle_delivers_a_message_appended_while_idling(dovecot: Dovecot) -> None:
    dovecot.append(mail(1))
    inbox = Inbox()
    # poll_s is an hour: only IDLE can deliver the second message in time.
    worker = ImapMailboxWorker(settings_for(dovecot), InMemoryCheckpointStore(), inbox)
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(20):
            await inbox.event("msg-1@example.com").wait()
            await worker.idling.wait()
            await asyncio.to_thread(dovecot.append, mail(2))
            await inbox.event("msg-2@example.com").wait()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert inbox.refs == ["msg-1@example.com", "msg-2@example.com"]


async def test_polling_when_the_server_has_no_idle(dovecot_no_idle: Dovecot) -> None:
    inbox = Inbox()
    settings = settings_for(dovecot_no_idle, poll_s=0.05)
    worker = ImapMailboxWorker(settings, InMemoryCheckpointStore(), inbox)
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(20):
            await asyncio.to_thread(dovecot_no_idle.append, mail(1))
            await inbox.event("msg-1@example.com").wait()
            await asyncio.to_thread(dovecot_no_idle.append, mail(2))
            await inbox.event("msg-2@example.com").wait()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not worker.idling.is_set()
    assert inbox.refs == ["msg-1@example.com", "msg-2@example.com"]


@pytest.mark.slow
async def test_run_reconnects_after_the_server_restarts(dovecot: Dovecot) -> None:
    inbox = Inbox()
    worker = ImapMailboxWorker(settings_for(dovecot), InMemoryCheckpointStore(), inbox)
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(30):
            await worker.idling.wait()
            await asyncio.to_thread(dovecot.restart)  # drops the idling connection
            await asyncio.to_thread(dovecot.append, mail(1))
            await inbox.event("msg-1@example.com").wait()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert inbox.refs == ["msg-1@example.com"]


async def test_wrong_password_is_an_error_not_a_hang(dovecot: Dovecot) -> None:
    worker = ImapMailboxWorker(
        settings_for(dovecot, password="wrong"), InMemoryCheckpointStore(), Inbox()
    )
    with pytest.raises(Exception, match="LOGIN failed"):
        await worker.run_once()
    assert "wrong" not in repr(worker.settings)


def test_parse_fetch_handles_uid_after_the_literal_and_flag_updates() -> None:
    lines: list[bytes | bytearray] = [
        b"2 FETCH (FLAGS (\\Seen))",
        b"1 FETCH (RFC822 {5}",
        bytearray(b"hello"),
        b" UID 7)",
        b"3 FETCH (UID 9 RFC822 {3}",
        bytearray(b"UID"),
        b")",
        b"Fetch completed.",
    ]
    assert parse_fetch(lines) == [(7, b"hello"), (9, b"UID")]
    assert parse_search([b"3 4 10", b"Search completed."]) == [3, 4, 10]
    assert parse_search([b"SEARCH 3 4", b"Search completed."]) == [3, 4]
    assert parse_search([b"", b"Search completed."]) == []


async def test_cancelling_an_idling_worker_stops_it_at_once(dovecot: Dovecot) -> None:
    """Shutting down never waits on a server that is gone (see test_email_to_agent's timeout)."""
    worker = ImapMailboxWorker(settings_for(dovecot), InMemoryCheckpointStore(), Inbox())
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(worker.idling.wait(), timeout=10)
    dovecot.stop()
    task.cancel()
    async with asyncio.timeout(1):
        with contextlib.suppress(asyncio.CancelledError):
            await task

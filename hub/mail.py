"""Email in the hub: IMAP mailboxes feed receive_contact; checkpoints live in the database."""

from __future__ import annotations

import logging

from channels.base import ChannelError
from channels.email_imap import ImapMailboxWorker, ImapSettings
from channels.email_parse import parse_email
from hub.actions.receive_contact import receive_contact
from hub.context import Hub
from hub.errors import Invalid
from hub.models import MailCheckpoint
from hub.settings import MailboxSettings

log = logging.getLogger(__name__)


class DbCheckpointStore:
    """CheckpointStore on the hub's database, so a restart never re-reads or skips mail."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def load(self, mailbox_key: str) -> tuple[int | None, int]:
        async with self.hub.store.session() as session:
            row = await session.get(MailCheckpoint, mailbox_key)
        return (row.uidvalidity, row.last_uid) if row else (None, 0)

    async def save(self, mailbox_key: str, uidvalidity: int, last_uid: int) -> None:
        async with self.hub.store.transaction() as session:
            row = await session.get(MailCheckpoint, mailbox_key) or MailCheckpoint(
                mailbox_key=mailbox_key
            )
            row.uidvalidity, row.last_uid = uidvalidity, last_uid
            session.add(row)


def imap_settings(m: MailboxSettings) -> ImapSettings:
    return ImapSettings(
        host=m.host,
        port=m.port,
        username=m.username,
        password=m.password,
        mailbox=m.mailbox,
        use_ssl=m.use_ssl,
        poll_s=m.poll_s,
        idle_timeout_s=m.idle_timeout_s,
    )


def mailbox_worker(hub: Hub, mailbox: MailboxSettings) -> ImapMailboxWorker:
    async def on_message(raw: bytes, uid: int) -> None:
        try:
            contact = parse_email(raw, max_body_chars=hub.settings.max_message_chars)
        except ChannelError as exc:
            log.warning("skipping IMAP uid %s in %s: %s", uid, mailbox.mailbox, exc)
            return  # not mail at all: skipping it is the only way forward
        try:
            await receive_contact(hub, contact, queue_id=mailbox.queue or None)
        except Invalid as exc:
            log.warning("skipping IMAP uid %s: %s", uid, exc)

    return ImapMailboxWorker(imap_settings(mailbox), DbCheckpointStore(hub), on_message)

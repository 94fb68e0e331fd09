"""Email in the hub: IMAP mailboxes feed receive_contact; checkpoints live in the database."""

from __future__ import annotations

import hashlib
import logging
from email.utils import parseaddr

from channels.base import ChannelError, InboundContact
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


UNREADABLE_SENDER = "unreadable-mail@crmhub.invalid"


def unreadable_mail(raw: bytes, uid: int, mailbox: str, error: str, limit: int) -> InboundContact:
    """Malformed mail is kept, raw, as work for a human rather than dropped: its text (bounded,
    decoded leniently) becomes the body, and the sender is a placeholder address."""
    text = raw[: limit * 4].decode("utf-8", errors="replace")[:limit]
    digest = hashlib.sha256(raw).hexdigest()
    return InboundContact(
        channel="email",
        provider_ref=f"sha256:{digest}",
        sender=UNREADABLE_SENDER,
        sender_name="Unreadable mail",
        subject=f"Unreadable mail (IMAP {mailbox} uid {uid})",
        body=text,
        meta={"malformed": error[:300]},
    )


def our_addresses(hub: Hub) -> set[str]:
    """Every address the hub sends from or reads: mail from them is ours, never new work."""
    found = {m.username.lower() for m in hub.settings.email.mailboxes if "@" in m.username}
    smtp = hub.settings.email.smtp
    for raw in (smtp.from_addr, smtp.username):
        addr = parseaddr(raw)[1].lower()
        if "@" in addr:
            found.add(addr)
    return found


def mailbox_worker(hub: Hub, mailbox: MailboxSettings) -> ImapMailboxWorker:
    ours = our_addresses(hub)
    limit = hub.settings.max_message_chars

    async def on_message(raw: bytes, uid: int) -> None:
        try:
            contact = parse_email(raw, max_body_chars=hub.settings.max_message_chars)
        except ChannelError as exc:
            contact = unreadable_mail(raw, uid, mailbox.mailbox, str(exc), limit)
            log.warning(
                "IMAP uid %s in %s is not readable mail (%s): kept raw", uid, mailbox.mailbox, exc
            )
        if contact.meta.get("auto") == "own" or contact.sender.lower() in ours:
            # Loop protection: our own replies (Bcc copies, forwarders, a mailbox that is also
            # the sender) are already stored as outbound messages; they never open work.
            log.info("IMAP uid %s in %s is our own mail: ignored", uid, mailbox.mailbox)
            hub.metrics.webhooks.labels("email", "own").inc()
            return
        try:
            with hub.shutdown.step():  # a mail being stored is finished at shutdown
                await receive_contact(hub, contact, queue_id=mailbox.queue or None)
        except Invalid as exc:
            log.warning("skipping IMAP uid %s: %s", uid, exc)

    return ImapMailboxWorker(imap_settings(mailbox), DbCheckpointStore(hub), on_message)

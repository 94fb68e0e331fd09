"""Store an inbound contact exactly once: dedupe, match the customer, thread, enqueue."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from channels.base import InboundContact
from channels.email_compose import find_ticket
from hub.actions.receive_batch import (
    INTERACTION_META,
    OPEN_STATES,
    Pending,
    Received,
    announce,
    inbound_message,
)
from hub.context import Hub, Tx
from hub.customers import normalize_identity, preferred_agent, resolve_customer
from hub.errors import Invalid
from hub.events import CustomerUpdated
from hub.inbound_batch import InboundBatcher
from hub.models import Interaction, Message, StoredAttachment
from hub.staffing import mark_if_unanswered

CHANNEL_IDENTITY = {"sms": "phone", "voice": "phone", "email": "email", "chat": "chat"}


STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT"}
START_WORDS = {"START", "UNSTOP", "YES", "OPTIN"}


def sms_keyword(contact: InboundContact) -> bool | None:
    """False for an opt-out keyword, True for an opt-in, None otherwise."""
    if contact.channel != "sms":
        return None
    word = contact.body.strip().upper()
    if word in STOP_WORDS:
        return False
    if word in START_WORDS:
        return True
    return None


def check_contact(hub: Hub, contact: InboundContact) -> InboundContact:
    if contact.channel not in CHANNEL_IDENTITY:
        raise Invalid(f"unknown channel {contact.channel!r}")
    if not contact.provider_ref or len(contact.provider_ref) > 200:
        raise Invalid("provider reference missing or too long")
    if len(contact.body) > hub.settings.max_message_chars * 10:
        raise Invalid("message too large")
    return contact


async def receive_contact(
    hub: Hub, contact: InboundContact, *, queue_id: str | None = None, state: str = "queued"
) -> Received:
    """Idempotent on (channel, provider_ref): a provider retry returns the first result.

    Plain SMS and chat messages are group-committed with whatever arrives beside them
    (hub/inbound_batch.py); the rest (mail threading, attachments, STOP words, PBX calls) take
    the one-contact path below."""
    check_contact(hub, contact)
    if batchable(hub, contact, state):
        return await _batcher(hub).receive(Pending(contact, queue_id))
    return await receive_one(hub, contact, queue_id=queue_id, state=state)


def batchable(hub: Hub, contact: InboundContact, state: str) -> bool:
    return (
        hub.settings.receive_batch_max > 1
        and state == "queued"
        and contact.channel in ("sms", "chat")
        and not contact.attachments
        and sms_keyword(contact) is None
    )


def _batcher(hub: Hub) -> InboundBatcher:
    if hub.inbound is None:

        async def single(item: Pending) -> Received:
            return await receive_one(hub, item.contact, queue_id=item.queue_id)

        hub.inbound = InboundBatcher(hub, single, hub.settings.receive_batch_max)
    batcher: InboundBatcher = hub.inbound
    return batcher


async def receive_one(
    hub: Hub, contact: InboundContact, *, queue_id: str | None = None, state: str = "queued"
) -> Received:
    for attempt in range(3):
        try:
            async with hub.transaction() as tx:
                return await do_receive_contact(hub, tx, contact, queue_id, state)
        except IntegrityError:
            # A concurrent duplicate (or identity) insert won the race: look again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _existing(tx: Tx, contact: InboundContact) -> Received | None:
    message = (
        await tx.session.exec(
            select(Message).where(
                Message.channel == contact.channel, Message.provider_ref == contact.provider_ref
            )
        )
    ).first()
    if message is None:
        return None
    if other_mail_same_id(message, contact):
        return None
    interaction = await tx.session.get(Interaction, message.interaction_id)
    assert interaction is not None
    return Received(interaction.id, message.id, interaction.customer_id, True, False)


def other_mail_same_id(message: Message, contact: InboundContact) -> bool:
    theirs, ours = message.meta.get("content_hash"), contact.meta.get("content_hash")
    return contact.channel == "email" and bool(theirs and ours) and theirs != ours


def content_ref(contact: InboundContact) -> InboundContact:
    """A second, different mail under a Message-ID we already hold gets its own key."""
    digest = str(contact.meta.get("content_hash", ""))[:16]
    return replace(contact, provider_ref=f"{contact.provider_ref[:170]}#{digest}")


async def do_receive_contact(
    hub: Hub, tx: Tx, contact: InboundContact, queue_id: str | None, state: str = "queued"
) -> Received:
    existing = await _existing(tx, contact)
    if existing is not None:
        return existing
    if contact.channel == "email" and await _holds_ref(tx, contact.provider_ref):
        contact = content_ref(contact)
        existing = await _existing(tx, contact)
        if existing is not None:
            return existing
    kind = CHANNEL_IDENTITY[contact.channel]
    if contact.channel == "chat" and contact.meta.get("identity_kind") == "external":
        kind = "external"  # a website vouched for this customer with an identity hash
    value = normalize_identity(kind, contact.sender, hub.settings.default_region)
    if value is None:
        raise Invalid(f"cannot read the sender address {contact.sender[:64]!r}")
    customer, _created = await resolve_customer(tx.session, kind, value, name=contact.sender_name)
    interaction = await _open_interaction(tx, customer.id, contact.channel)
    if contact.channel == "email":
        interaction = await _email_thread(tx, contact, customer.id)
    auto = contact.channel == "email" and bool(contact.meta.get("auto"))
    new = interaction is None
    now = hub.now()
    if interaction is None and contact.channel == "chat":
        await mark_if_unanswered(hub, contact.meta, queue_id or hub.settings.routing.default_queue)
    if interaction is None:
        interaction = Interaction(
            customer_id=customer.id,
            channel=contact.channel,
            queue_id=queue_id or hub.settings.routing.default_queue,
            subject=contact.subject[:500],
            customer_address=value,
            hub_address=contact.recipient[:320],
            enqueued_at=now,
            created_at=now,
            # "ringing" for PBX calls (the PBX routes those); bounces and auto-replies are history
            state="closed" if auto else state,
            disposition="auto" if auto else "",
            direction="out" if contact.meta.get("direction") == "out" else "in",
            provider_ref=contact.provider_ref if contact.channel == "voice" else None,
            meta={k: v for k, v in contact.meta.items() if k in INTERACTION_META},
            preferred_agent_id=await preferred_agent(tx.session, customer),
        )
        tx.session.add(interaction)
    message = inbound_message(hub, contact, interaction.id, value, now)
    tx.session.add(message)
    limit = hub.settings.max_attachment_bytes
    for a in contact.attachments[: hub.settings.max_attachments_per_message]:
        keep = a.data is not None and len(a.data) <= limit
        tx.session.add(
            StoredAttachment(
                message_id=message.id,
                filename=a.filename[:255],
                content_type=(a.content_type or "application/octet-stream")[:100],
                size=a.size,
                data=a.data if keep else None,
                url=a.url[:1000] if a.url else None,
            )
        )
    opt = sms_keyword(contact)
    if opt is not None:  # carrier-style STOP / START: never text an opted-out customer again
        customer.consent = {**customer.consent, "sms": opt}
        tx.session.add(customer)
        tx.emit(CustomerUpdated(customer_id=customer.id))
    await tx.session.flush()
    announce(tx, interaction, message.id, new=new and not auto)
    return Received(interaction.id, message.id, customer.id, False, new, interaction.state)


async def _holds_ref(tx: Tx, provider_ref: str) -> bool:
    row = (
        await tx.session.exec(
            select(Message.id).where(
                Message.channel == "email", Message.provider_ref == provider_ref
            )
        )
    ).first()
    return row is not None


async def _email_thread(tx: Tx, contact: InboundContact, customer_id: str) -> Interaction | None:
    """The open interaction this mail answers: by In-Reply-To / References, else by the ticket
    token in the subject (`[#T-…]`, for clients that drop the headers). A token only counts for
    the customer the ticket belongs to: a stranger quoting it starts their own interaction."""
    if contact.thread_refs:
        row = (
            await tx.session.exec(
                select(Interaction)
                .join(Message, col(Message.interaction_id) == col(Interaction.id))
                .where(
                    Message.channel == "email",
                    col(Message.provider_ref).in_(list(contact.thread_refs)[-20:]),
                    col(Interaction.state).in_(OPEN_STATES),
                )
                .order_by(col(Message.created_at).desc())
            )
        ).first()
        if row is not None:
            return row
    token = find_ticket(contact.subject)
    if token is None:
        return None
    prefix = token.removeprefix("T-")
    return (
        await tx.session.exec(
            select(Interaction).where(
                col(Interaction.id).startswith(prefix),
                Interaction.channel == "email",
                Interaction.customer_id == customer_id,
                col(Interaction.state).in_(OPEN_STATES),
            )
        )
    ).first()


async def _open_interaction(tx: Tx, customer_id: str, channel: str) -> Interaction | None:
    """SMS and chat continue the customer's open conversation on that channel."""
    if channel not in ("sms", "chat"):
        return None
    return (
        await tx.session.exec(
            select(Interaction)
            .where(
                Interaction.customer_id == customer_id,
                Interaction.channel == channel,
                col(Interaction.state).in_(OPEN_STATES),
            )
            .order_by(col(Interaction.created_at).desc())
        )
    ).first()

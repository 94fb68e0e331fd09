"""Store a batch of plain SMS and chat contacts in one transaction: all reads first, one flush.

The single-contact path (receive_contact.do_receive_contact) runs six or more queries per
contact and writes as it goes. Here a batch of N contacts costs three reads in all (stored
messages, identities, open conversations) plus one flush, so a burst of webhooks shares one
commit, and on SQLite the write lock is held only for the final flush and COMMIT (pysqlite
begins the transaction at the first write), not across every contact's reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from channels.base import InboundContact
from hub.context import Hub, Tx
from hub.customers import follow_merges, new_customer, normalize_identity, preferred_agent
from hub.errors import Invalid
from hub.events import InteractionReceived, MessageCreated
from hub.models import Customer, CustomerIdentity, Interaction, Message
from hub.staffing import mark_if_unanswered

OPEN_STATES = ("queued", "offered", "assigned")
# What a contact's meta may leave on its interaction (the rest stays on the message).
INTERACTION_META = (
    "source",
    "users",
    "queue",
    "contact_email",
    "contact_phone",
    "visitor_id",
    "offline",
)


@dataclass(frozen=True, slots=True)
class Received:
    interaction_id: str
    message_id: str | None
    customer_id: str
    duplicate: bool
    new_interaction: bool
    state: str = ""  # the interaction's state after the contact ("" for a provider retry)


@dataclass(frozen=True, slots=True)
class Pending:
    contact: InboundContact
    queue_id: str | None


def identity_kind(contact: InboundContact) -> str:
    if contact.channel == "chat":
        # A website vouched for this customer with an identity hash.
        return "external" if contact.meta.get("identity_kind") == "external" else "chat"
    return "phone"


def stored_query(items: list[Pending]) -> Any:
    return (
        sa.select(
            col(Message.channel),
            col(Message.provider_ref),
            col(Message.interaction_id),
            col(Message.id),
            col(Interaction.customer_id),
        )
        .join(Interaction, col(Interaction.id) == col(Message.interaction_id))
        # Both columns, in the unique index's order: provider_ref alone scanned the table.
        .where(
            col(Message.channel).in_(sorted({p.contact.channel for p in items})),
            col(Message.provider_ref).in_(sorted({p.contact.provider_ref for p in items})),
        )
    )


def identities_query(keys: set[tuple[str, str]]) -> Any:
    return (
        select(CustomerIdentity.kind, CustomerIdentity.value, Customer)
        .join(Customer, col(Customer.id) == col(CustomerIdentity.customer_id))
        # Both columns, in the unique index's order: value alone scanned the table.
        .where(
            col(CustomerIdentity.kind).in_(sorted({kind for kind, _value in keys})),
            col(CustomerIdentity.value).in_(sorted({value for _kind, value in keys})),
        )
    )


async def _stored(tx: Tx, items: list[Pending]) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(channel, provider_ref) -> (interaction_id, message_id, customer_id) already stored."""
    rows = (await tx.session.exec(stored_query(items))).all()
    return {(ch, ref or ""): (iid, mid, cid) for ch, ref, iid, mid, cid in rows}


async def _customers(tx: Tx, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Customer]:
    """Known customers by (identity kind, normalized value), merges followed."""
    if not keys:
        return {}
    rows = (await tx.session.exec(identities_query(keys))).all()
    found: dict[tuple[str, str], Customer] = {}
    for kind, value, customer in rows:
        if (kind, value) in keys:
            found[(kind, value)] = await follow_merges(tx.session, customer)
    return found


async def _open(
    tx: Tx, customer_ids: set[str], channels: set[str]
) -> dict[tuple[str, str], Interaction]:
    """Each customer's newest open conversation per channel (SMS and chat continue it)."""
    if not customer_ids:
        return {}
    rows = (
        await tx.session.exec(
            select(Interaction)
            .where(
                col(Interaction.customer_id).in_(customer_ids),
                col(Interaction.channel).in_(channels),
                col(Interaction.state).in_(OPEN_STATES),
            )
            .order_by(col(Interaction.created_at).desc())
        )
    ).all()
    found: dict[tuple[str, str], Interaction] = {}
    for it in rows:
        found.setdefault((it.customer_id, it.channel), it)
    return found


def inbound_message(
    hub: Hub, contact: InboundContact, interaction_id: str, sender: str, now: datetime
) -> Message:
    return Message(
        interaction_id=interaction_id,
        channel=contact.channel,
        direction="in",
        provider_ref=contact.provider_ref,
        sender=sender,
        subject=contact.subject[:500],
        body=contact.body[: hub.settings.max_message_chars],
        status="received",
        created_at=now,
        meta=dict(contact.meta),
    )


def announce(tx: Tx, interaction: Interaction, message: Message, *, new: bool) -> None:
    """A new interaction is announced to routing, every message to the consoles."""
    if new:
        tx.emit(
            InteractionReceived(
                interaction_id=interaction.id,
                customer_id=interaction.customer_id,
                channel=interaction.channel,
                queue_id=interaction.queue_id,
                message_id=message.id,
            )
        )
    tx.emit(MessageCreated(message_id=message.id, interaction_id=interaction.id, direction="in"))


async def do_receive_batch(hub: Hub, tx: Tx, items: list[Pending]) -> list[Received | Exception]:
    """Per item: what was stored, or the error that item alone raised (an unreadable
    sender). Same effects and events, in the same order, as do_receive_contact on each item."""
    region = hub.settings.default_region
    values: list[tuple[str, str] | None] = []
    for p in items:
        kind = identity_kind(p.contact)
        value = normalize_identity(kind, p.contact.sender, region)
        values.append((kind, value) if value is not None else None)
    stored = await _stored(tx, items)
    customers = await _customers(tx, {v for v in values if v is not None})
    opened = await _open(tx, {c.id for c in customers.values()}, {p.contact.channel for p in items})
    now = hub.now()
    default_queue = hub.settings.routing.default_queue
    fresh: set[str] = set()
    out: list[Received | Exception] = []
    for p, key in zip(items, values, strict=True):
        contact = p.contact
        done = stored.get((contact.channel, contact.provider_ref))
        if done is not None:
            out.append(Received(*done, True, False))
            continue
        if key is None:
            out.append(Invalid(f"cannot read the sender address {contact.sender[:64]!r}"))
            continue
        customer = customers.get(key)
        if customer is None:
            customer, identity = new_customer(key[0], key[1], name=contact.sender_name)
            tx.session.add_all([customer, identity])
            customers[key] = customer
            fresh.add(customer.id)
        interaction = opened.get((customer.id, contact.channel))
        new = interaction is None
        if interaction is None:
            if contact.channel == "chat":
                await mark_if_unanswered(hub, contact.meta, p.queue_id or default_queue)
            # A customer first seen in this batch has no history to follow.
            preferred = (
                None if customer.id in fresh else await preferred_agent(tx.session, customer)
            )
            interaction = Interaction(
                customer_id=customer.id,
                channel=contact.channel,
                queue_id=p.queue_id or default_queue,
                subject=contact.subject[:500],
                customer_address=key[1],
                hub_address=contact.recipient[:320],
                enqueued_at=now,
                created_at=now,
                meta={k: v for k, v in contact.meta.items() if k in INTERACTION_META},
                preferred_agent_id=preferred,
            )
            tx.session.add(interaction)
            opened[(customer.id, contact.channel)] = interaction
        message = inbound_message(hub, contact, interaction.id, key[1], now)
        tx.session.add(message)
        stored[(contact.channel, contact.provider_ref)] = (interaction.id, message.id, customer.id)
        announce(tx, interaction, message, new=new)
        out.append(Received(interaction.id, message.id, customer.id, False, new, interaction.state))
    await tx.session.flush()
    return out

"""Store a batch of plain SMS and chat contacts in one transaction: all reads first, then the
rows.

The single-contact path (receive_contact.do_receive_contact) runs six or more queries per
contact and writes as it goes. Here a batch of N contacts costs two reads in all (stored
messages; known identities with their open conversations) plus one INSERT per table
(customers, identities, interactions, messages, as executemany of plain rows: entities through
the unit of work cost more than the INSERTs), so a burst of webhooks shares one commit, and on
SQLite the write lock is held only for the inserts and COMMIT (the transaction begins at the
first write), not across every contact's reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from channels.base import InboundContact
from hub.context import Hub, Tx
from hub.customers import follow_merges, normalize_identity, preferred_agent_of
from hub.driver_sql import DriverRead
from hub.errors import Invalid
from hub.events import InteractionReceived, MessageCreated
from hub.models import Customer, CustomerIdentity, Interaction, Message, search_name
from hub.rows import new_row
from hub.staffing import mark_if_unanswered
from hub.tables import CUSTOMERS, IDENTITY_ROWS, INTERACTIONS, MESSAGES, core

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


# Built once, with bound lists: building them per batch cost about as much as running them.
STORED = (
    sa.select(
        core(Message.channel),
        core(Message.provider_ref),
        core(Message.interaction_id),
        core(Message.id),
        core(Interaction.customer_id),
    )
    .join(INTERACTIONS, core(Interaction.id) == core(Message.interaction_id))
    # Both columns, in the unique index's order: provider_ref alone scanned the table.
    .where(
        core(Message.channel).in_(sa.bindparam("channels", expanding=True)),
        core(Message.provider_ref).in_(sa.bindparam("refs", expanding=True)),
    )
)
# Known senders' customers and, in the same read, their open conversations on the batch's
# channels (a LEFT JOIN: one row per open conversation, or one with NULLs). Columns, not
# Customer entities: an ORM row per known sender was the batch's dearest read in B2 (every chat
# line of a known visitor), and the two reads were two of the batch's six statements.
_OPEN_JOIN = sa.and_(
    INTERACTIONS.c.customer_id == CUSTOMERS.c.id,
    INTERACTIONS.c.channel.in_(sa.bindparam("channels", expanding=True)),
    INTERACTIONS.c.state.in_(OPEN_STATES),
)
IDENTITIES = (
    sa.select(
        IDENTITY_ROWS.c.kind,
        IDENTITY_ROWS.c.value,
        CUSTOMERS.c.id,
        CUSTOMERS.c.merged_into_id,
        CUSTOMERS.c.account_manager_id,
        INTERACTIONS.c.id,
        INTERACTIONS.c.channel,
        INTERACTIONS.c.queue_id,
        INTERACTIONS.c.state,
    )
    .select_from(
        IDENTITY_ROWS.join(CUSTOMERS, CUSTOMERS.c.id == IDENTITY_ROWS.c.customer_id).outerjoin(
            INTERACTIONS, _OPEN_JOIN
        )
    )
    # Both columns, in the unique index's order: value alone scanned the table.
    .where(
        IDENTITY_ROWS.c.kind.in_(sa.bindparam("kinds", expanding=True)),
        IDENTITY_ROWS.c.value.in_(sa.bindparam("values", expanding=True)),
    )
    .order_by(INTERACTIONS.c.created_at.desc())
)
OPEN = (
    sa.select(
        core(Interaction.id),
        core(Interaction.customer_id),
        core(Interaction.channel),
        core(Interaction.queue_id),
        core(Interaction.state),
    )
    .where(
        core(Interaction.customer_id).in_(sa.bindparam("customers", expanding=True)),
        core(Interaction.channel).in_(sa.bindparam("channels", expanding=True)),
        core(Interaction.state).in_(OPEN_STATES),
    )
    .order_by(core(Interaction.created_at).desc())
)


# The two reads every chat line and SMS makes, on the driver (hub.driver_sql): strings only.
STORED_READ = DriverRead(STORED)
IDENTITIES_READ = DriverRead(IDENTITIES)


# Executed as execute(STATEMENT, params), never STATEMENT.params(...): a bound copy is a new
# statement whose cache key SQLAlchemy computes again on every execution (about 110 us per
# statement on this project's VM, more than the SQL), while the built-once statement's key is
# memoized. The *_query forms are for EXPLAIN in the tests.
def stored_params(items: list[Pending]) -> dict[str, Any]:
    return {
        "channels": sorted({p.contact.channel for p in items}),
        "refs": sorted({p.contact.provider_ref for p in items}),
    }


def identities_params(keys: set[tuple[str, str]], channels: set[str]) -> dict[str, Any]:
    return {
        "kinds": sorted({kind for kind, _value in keys}),
        "values": sorted({v for _k, v in keys}),
        "channels": sorted(channels),
    }


def stored_query(items: list[Pending]) -> Any:
    return STORED.params(**stored_params(items))


def identities_query(keys: set[tuple[str, str]], channels: set[str]) -> Any:
    return IDENTITIES.params(**identities_params(keys, channels))


async def _stored(tx: Tx, items: list[Pending]) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(channel, provider_ref) -> (interaction_id, message_id, customer_id) already stored."""
    rows = await STORED_READ.all(tx.session, stored_params(items))
    return {(ch, ref or ""): (iid, mid, cid) for ch, ref, iid, mid, cid in rows}


@dataclass(frozen=True, slots=True)
class Known:
    """A known sender's customer (merges followed): who it is and who manages the account."""

    id: str
    account_manager_id: str | None


@dataclass(slots=True)
class Conversation:
    """What the batch needs of an open interaction (its newest per customer and channel)."""

    id: str
    customer_id: str
    channel: str
    queue_id: str
    state: str


Opened = dict[tuple[str, str], Conversation]


async def _customers(
    tx: Tx, keys: set[tuple[str, str]], channels: set[str]
) -> tuple[dict[tuple[str, str], Known], Opened]:
    """Known customers by (identity kind, normalized value), merges followed, and each one's
    newest open conversation per channel (SMS and chat continue it)."""
    found: dict[tuple[str, str], Known] = {}
    opened: Opened = {}
    if not keys:
        return found, opened
    survivors: set[str] = set()
    rows = await IDENTITIES_READ.all(tx.session, identities_params(keys, channels))
    for kind, value, customer_id, merged_into_id, manager_id, *conversation in rows:
        if (kind, value) not in keys:
            continue
        if merged_into_id:  # rare: the identity still points at a merged customer
            merged = await tx.session.get(Customer, customer_id)
            if merged is not None:
                survivor = await follow_merges(tx.session, merged)
                customer_id, manager_id = survivor.id, survivor.account_manager_id
                survivors.add(customer_id)  # its conversations are not in these rows
        elif conversation[0] is not None:  # newest first
            opened.setdefault(
                (customer_id, conversation[1]),
                Conversation(conversation[0], customer_id, *conversation[1:]),
            )
        found[(kind, value)] = Known(customer_id, manager_id)
    if survivors:
        for key, conv in (await _open(tx, survivors, channels)).items():
            opened.setdefault(key, conv)
    return found, opened


async def _open(tx: Tx, customer_ids: set[str], channels: set[str]) -> Opened:
    """Each customer's newest open conversation per channel (SMS and chat continue it)."""
    if not customer_ids:
        return {}
    params = {"customers": sorted(customer_ids), "channels": sorted(channels)}
    found: Opened = {}
    for row in await tx.session.execute(OPEN, params):
        found.setdefault((row.customer_id, row.channel), Conversation(*row))
    return found


def inbound_message_values(
    hub: Hub, contact: InboundContact, interaction_id: str, sender: str, now: datetime
) -> dict[str, Any]:
    return {
        "interaction_id": interaction_id,
        "channel": contact.channel,
        "direction": "in",
        "provider_ref": contact.provider_ref,
        "sender": sender,
        "subject": contact.subject[:500],
        "body": contact.body[: hub.settings.max_message_chars],
        "status": "received",
        "created_at": now,
        "meta": dict(contact.meta),
    }


def inbound_message(
    hub: Hub, contact: InboundContact, interaction_id: str, sender: str, now: datetime
) -> Message:
    return Message(**inbound_message_values(hub, contact, interaction_id, sender, now))


def announce(
    tx: Tx, interaction: Any, message_id: str, *, new: bool, customer_id: str | None = None
) -> None:
    """A new interaction is announced to routing, every message to the consoles.

    `interaction`: an Interaction or a Conversation."""
    if new:
        tx.emit(
            InteractionReceived(
                interaction_id=interaction.id,
                customer_id=customer_id or interaction.customer_id,
                channel=interaction.channel,
                queue_id=interaction.queue_id,
                message_id=message_id,
            )
        )
    tx.emit(
        MessageCreated(
            message_id=message_id, interaction_id=interaction.id, direction="in", opened=new
        )
    )


# Built once, like the reads: a new sa.insert() per batch had its cache key computed each time.
INSERT_CUSTOMERS = sa.insert(CUSTOMERS)
INSERT_IDENTITIES = sa.insert(IDENTITY_ROWS)
INSERT_INTERACTIONS = sa.insert(INTERACTIONS)
INSERT_MESSAGES = sa.insert(MESSAGES)


@dataclass
class _Rows:
    """What the batch inserts, table by table (in foreign-key order)."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    identities: list[dict[str, Any]] = field(default_factory=list)
    interactions: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    async def insert(self, tx: Tx) -> None:
        for table, rows in (
            (INSERT_CUSTOMERS, self.customers),
            (INSERT_IDENTITIES, self.identities),
            (INSERT_INTERACTIONS, self.interactions),
            (INSERT_MESSAGES, self.messages),
        ):
            if rows:
                await tx.session.execute(table, rows)


async def do_receive_batch(hub: Hub, tx: Tx, items: list[Pending]) -> list[Received | Exception]:
    """Per item: what was stored, or the error that item alone raised (an unreadable
    sender). Same effects and events, in the same order, as do_receive_contact on each item;
    the rows go in as one executemany per table, not entities through the unit of work."""
    region = hub.settings.default_region
    values: list[tuple[str, str] | None] = []
    for p in items:
        kind = identity_kind(p.contact)
        value = normalize_identity(kind, p.contact.sender, region)
        values.append((kind, value) if value is not None else None)
    stored = await _stored(tx, items)
    known, opened = await _customers(
        tx, {v for v in values if v is not None}, {p.contact.channel for p in items}
    )
    customers = {key: c.id for key, c in known.items()}
    now = hub.now()
    default_queue = hub.settings.routing.default_queue
    rows = _Rows()
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
        customer_id = customers.get(key)
        if customer_id is None:
            name = (contact.sender_name or key[1])[:200]
            customer = new_row(Customer, name=name, search_name=search_name(name))
            customer_id = customers[key] = customer["id"]
            rows.customers.append(customer)
            rows.identities.append(
                new_row(CustomerIdentity, customer_id=customer_id, kind=key[0], value=key[1])
            )
        conversation = opened.get((customer_id, contact.channel))
        new = conversation is None
        if conversation is None:
            queue_id = p.queue_id or default_queue
            if contact.channel == "chat":
                await mark_if_unanswered(hub, contact.meta, queue_id)
            # A customer first seen in this batch has no history to follow.
            known_customer = known.get(key)
            preferred = (
                await preferred_agent_of(
                    tx.session, known_customer.id, known_customer.account_manager_id
                )
                if known_customer
                else None
            )
            interaction = new_row(
                Interaction,
                customer_id=customer_id,
                channel=contact.channel,
                queue_id=queue_id,
                subject=contact.subject[:500],
                customer_address=key[1],
                hub_address=contact.recipient[:320],
                enqueued_at=now,
                created_at=now,
                meta={k: v for k, v in contact.meta.items() if k in INTERACTION_META},
                preferred_agent_id=preferred,
            )
            rows.interactions.append(interaction)
            conversation = opened[(customer_id, contact.channel)] = Conversation(
                interaction["id"], customer_id, contact.channel, queue_id, "queued"
            )
        message = new_row(
            Message, **inbound_message_values(hub, contact, conversation.id, key[1], now)
        )
        rows.messages.append(message)
        ref = (contact.channel, contact.provider_ref)
        stored[ref] = (conversation.id, message["id"], customer_id)
        announce(tx, conversation, message["id"], new=new)
        out.append(
            Received(conversation.id, message["id"], customer_id, False, new, conversation.state)
        )
    await rows.insert(tx)
    return out

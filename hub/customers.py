"""Identity resolution (E.164 phones, lower-cased emails, chat identities) and the customer card."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.driver_sql import DriverRead
from hub.models import (
    Customer,
    CustomerIdentity,
    CustomerNote,
    Interaction,
    Message,
    Order,
    UTCDateTime,
)
from hub.phones import to_e164
from hub.tables import CUSTOMERS, core

IDENTITY_KINDS = ("phone", "email", "chat", "external")


def normalize_identity(kind: str, raw: str, default_region: str) -> str | None:
    text = (raw or "").strip()
    if kind == "phone":
        return to_e164(text, default_region)
    if kind == "email":
        text = text.lower()
        return text if "@" in text and len(text) <= 320 else None
    return text[:320] or None


async def find_customer(session: AsyncSession, kind: str, value: str) -> Customer | None:
    row = (
        await session.exec(
            select(Customer)
            .join(CustomerIdentity, col(CustomerIdentity.customer_id) == col(Customer.id))
            .where(CustomerIdentity.kind == kind, CustomerIdentity.value == value)
        )
    ).first()
    return await follow_merges(session, row) if row else None


async def follow_merges(session: AsyncSession, customer: Customer) -> Customer:
    """A merged customer forwards to the survivor; bounded so a bad cycle cannot hang us."""
    for _ in range(10):
        if not customer.merged_into_id:
            return customer
        target = await session.get(Customer, customer.merged_into_id)
        if target is None:
            return customer
        customer = target
    return customer


async def resolve_customer(
    session: AsyncSession, kind: str, value: str, *, name: str = "", confidence: str = "known"
) -> tuple[Customer, bool]:
    """The customer owning identity (kind, value), created when unknown: (customer, created).

    Only an exact normalized identity matches: a name alone never joins two customers.
    """
    existing = await find_customer(session, kind, value)
    if existing is not None:
        return existing, False
    customer, identity = new_customer(kind, value, name=name, confidence=confidence)
    session.add_all([customer, identity])
    await session.flush()
    return customer, True


def new_customer(
    kind: str, value: str, *, name: str = "", confidence: str = "known"
) -> tuple[Customer, CustomerIdentity]:
    """A customer first met through identity (kind, value), named after it when nameless."""
    customer = Customer(name=(name or value)[:200])
    identity = CustomerIdentity(
        customer_id=customer.id, kind=kind, value=value, confidence=confidence
    )
    return customer, identity


# The card and the timeline run for every offer and assignment: their statements are built once
# (with bound parameters), since building them per call cost as much CPU as running them.


# What the timeline shows of an interaction, newest first with the id breaking ties: the single
# read (HISTORY) and the batched one (hub/customer_cards.HISTORIES) share them.
HISTORY_COLUMNS = (
    core(Interaction.id),
    core(Interaction.channel),
    core(Interaction.state),
    core(Interaction.subject),
    core(Interaction.created_at),
    core(Interaction.disposition),
    core(Interaction.assigned_agent_id),
)
NEWEST_FIRST = (core(Interaction.created_at).desc(), core(Interaction.id).desc())


def last_preview(interaction_id: Any, chars: Any) -> Any:
    """The first `chars` characters of the interaction's last message (in or out: transfer notes
    are never a preview), as a correlated subquery labelled `preview`."""
    return (
        sa.select(sa.func.substr(core(Message.body), 1, chars))
        .where(
            core(Message.interaction_id) == interaction_id,
            core(Message.direction).in_(("in", "out")),
        )
        .order_by(core(Message.created_at).desc(), core(Message.id).desc())
        .limit(1)
        .scalar_subquery()
        .label("preview")
    )


def _history_statement() -> Any:
    """The newest :limit interactions of :customer_id in a derived table, each with the first
    :chars characters of its last message. Works on SQLite and PostgreSQL."""
    recent = (
        sa.select(*HISTORY_COLUMNS)
        .where(core(Interaction.customer_id) == sa.bindparam("customer_id"))
        .order_by(*NEWEST_FIRST)
        .limit(sa.bindparam("limit", type_=sa.Integer))
        .subquery("recent")
    )
    preview = last_preview(recent.c.id, sa.bindparam("chars", type_=sa.Integer))
    return sa.select(recent, preview).order_by(recent.c.created_at.desc(), recent.c.id.desc())


HISTORY = _history_statement()


async def interaction_history(
    session: AsyncSession, customer_id: str, *, limit: int, preview_chars: int
) -> list[dict[str, Any]]:
    """A customer's timeline, newest first: each interaction with a preview of its last message.

    One query; it was one per interaction (docs/performance.md). The preview is cut in SQL, so
    a long email body does not travel for 140 characters of it."""
    rows = await session.execute(
        HISTORY, {"customer_id": customer_id, "limit": limit, "chars": preview_chars}
    )
    return [history_item(r) for r in rows]


def history_item(r: Any) -> dict[str, Any]:
    """A row of HISTORY (or hub/customer_cards.HISTORIES) as the timeline shows it."""
    return {
        "id": r.id,
        "channel": r.channel,
        "state": r.state,
        "subject": r.subject,
        "created_at": r.created_at.isoformat(),
        "disposition": r.disposition,
        "agent_id": r.assigned_agent_id,
        "preview": r.preview or "",
    }


CARD_FIELDS = (
    "id",
    "name",
    "kind",
    "tier",
    "tier_reasons",
    "lifetime_value",
    "rfm",
    "churn_risk",
    "churn_reasons",
    "preferences",
    "consent",
    "language",
    "company",
    "tags",
)
_of_customer = core(Order.customer_id) == core(Customer.id)
# The card's columns with the order count and the last order date: one row.
CARD_COLUMNS = sa.select(
    *(CUSTOMERS.c[name] for name in CARD_FIELDS),
    sa.select(sa.func.count()).where(_of_customer).scalar_subquery(),
    sa.select(sa.func.max(core(Order.ordered_at), type_=UTCDateTime))
    .where(_of_customer)
    .scalar_subquery(),
)
CARD = CARD_COLUMNS.where(core(Customer.id) == sa.bindparam("customer_id"))
IDENTITIES = sa.select(
    core(CustomerIdentity.kind), core(CustomerIdentity.value), core(CustomerIdentity.confidence)
).where(core(CustomerIdentity.customer_id) == sa.bindparam("customer_id"))
CARD_NOTES = 3
CARD_RECENT = 5  # past interactions on a card, besides the current one
NOTE_BODY = sa.func.substr(core(CustomerNote.body), 1, 300).label("body")
NOTES = (
    sa.select(NOTE_BODY, core(CustomerNote.author_name))
    .where(core(CustomerNote.customer_id) == sa.bindparam("customer_id"))
    .order_by(core(CustomerNote.created_at).desc(), core(CustomerNote.id).desc())
    .limit(CARD_NOTES)
)
# Plain strings and numbers, read for every offer and assignment: on the driver (hub.driver_sql).
IDENTITIES_READ = DriverRead(IDENTITIES)
NOTES_READ = DriverRead(NOTES)


async def customer_card(
    session: AsyncSession, customer_id: str, recent: int = CARD_RECENT
) -> dict[str, Any]:
    """What an offer shows: who it is, what they are worth, what happened last.

    Four queries of columns, no ORM entities: it was twelve (one per past interaction)."""
    params = {"customer_id": customer_id}
    row = (await session.execute(CARD, params)).first()
    if row is None:
        return unknown_card(customer_id)
    identities = await IDENTITIES_READ.all(session, params)
    history = await interaction_history(
        session, customer_id, limit=recent + 1, preview_chars=CARD_PREVIEW_CHARS
    )
    notes = await NOTES_READ.all(session, params)
    return card_dict(row, identities, history, notes)


CARD_PREVIEW_CHARS = 140


def unknown_card(customer_id: str) -> dict[str, Any]:
    """The card of a customer gone (erased) since the offer was made."""
    return {"id": customer_id, "name": "", "tier": "standard", "lifetime_value": 0.0}


def card_dict(
    row: Any, identities: list[Any], history: list[dict[str, Any]], notes: list[Any]
) -> dict[str, Any]:
    """The card from a row of CARD, its (kind, value, confidence) identities, its timeline and
    its (body, author) notes: one place for the single and the batched read
    (hub/customer_cards.py)."""
    c = dict(zip(CARD_FIELDS, row, strict=False))
    count, last_order = row[len(CARD_FIELDS)], row[len(CARD_FIELDS) + 1]
    return {
        **{name: c[name] for name in CARD_FIELDS if name != "tags"},
        "orders": {"count": int(count), "last": last_order.isoformat() if last_order else None},
        "notes": [{"body": body, "author": author} for body, author in notes],
        "tags": c["tags"],
        "identities": [
            {"kind": kind, "value": value, "confidence": confidence}
            for kind, value, confidence in identities
        ],
        "history": history,
    }


async def count_customers(session: AsyncSession) -> int:
    return int((await session.exec(select(sa.func.count()).select_from(Customer))).one())


async def preferred_agent(session: AsyncSession, customer: Customer) -> str | None:
    """Relationship routing: the account manager, else the agent who last handled the customer."""
    return await preferred_agent_of(session, customer.id, customer.account_manager_id)


async def preferred_agent_of(
    session: AsyncSession, customer_id: str, account_manager_id: str | None
) -> str | None:
    """preferred_agent for a caller that read the customer's columns, not its entity."""
    if account_manager_id:
        return account_manager_id
    return (
        await session.exec(
            select(Interaction.assigned_agent_id)
            .where(
                Interaction.customer_id == customer_id,
                col(Interaction.assigned_agent_id).is_not(None),
            )
            .order_by(col(Interaction.created_at).desc())
            .limit(1)
        )
    ).first()

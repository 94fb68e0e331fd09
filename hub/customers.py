"""Identity resolution (E.164 phones, lower-cased emails, chat identities) and the customer card."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

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


async def interaction_summary(
    session: AsyncSession, it: Interaction, *, preview_chars: int
) -> dict[str, Any]:
    """One line of a customer's timeline: the interaction and a preview of its last message."""
    last = (
        await session.exec(
            select(Message.body)
            .where(Message.interaction_id == it.id, col(Message.direction).in_(("in", "out")))
            .order_by(col(Message.created_at).desc())
            .limit(1)
        )
    ).first()
    return {
        "id": it.id,
        "channel": it.channel,
        "state": it.state,
        "subject": it.subject,
        "created_at": it.created_at.isoformat(),
        "disposition": it.disposition,
        "agent_id": it.assigned_agent_id,
        "preview": (last or "")[:preview_chars],
    }


async def customer_card(session: AsyncSession, customer_id: str, recent: int = 5) -> dict[str, Any]:
    """What an offer shows: who it is, what they are worth, what happened last."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        return {"id": customer_id, "name": "", "tier": "standard", "lifetime_value": 0.0}
    identities = (
        await session.exec(
            select(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id)
        )
    ).all()
    rows = (
        await session.exec(
            select(Interaction)
            .where(Interaction.customer_id == customer_id)
            .order_by(col(Interaction.created_at).desc())
            .limit(recent + 1)
        )
    ).all()
    history = [await interaction_summary(session, it, preview_chars=140) for it in rows]
    notes = (
        await session.exec(
            select(CustomerNote.body, CustomerNote.author_name)
            .where(CustomerNote.customer_id == customer_id)
            .order_by(col(CustomerNote.created_at).desc())
            .limit(3)
        )
    ).all()
    orders = (
        await session.exec(
            select(sa.func.count(), sa.func.max(Order.ordered_at, type_=UTCDateTime)).where(
                Order.customer_id == customer_id
            )
        )
    ).one()
    return {
        "id": customer.id,
        "name": customer.name,
        "kind": customer.kind,
        "tier": customer.tier,
        "tier_reasons": customer.tier_reasons,
        "lifetime_value": customer.lifetime_value,
        "rfm": customer.rfm,
        "churn_risk": customer.churn_risk,
        "churn_reasons": customer.churn_reasons,
        "preferences": customer.preferences,
        "consent": customer.consent,
        "language": customer.language,
        "company": customer.company,
        "orders": {"count": int(orders[0]), "last": orders[1].isoformat() if orders[1] else None},
        "notes": [{"body": body[:300], "author": author} for body, author in notes],
        "tags": customer.tags,
        "identities": [
            {"kind": i.kind, "value": i.value, "confidence": i.confidence} for i in identities
        ],
        "history": history,
    }


async def count_customers(session: AsyncSession) -> int:
    return int((await session.exec(select(sa.func.count()).select_from(Customer))).one())


async def preferred_agent(session: AsyncSession, customer: Customer) -> str | None:
    """Relationship routing: the account manager, else the agent who last handled the customer."""
    if customer.account_manager_id:
        return customer.account_manager_id
    return (
        await session.exec(
            select(Interaction.assigned_agent_id)
            .where(
                Interaction.customer_id == customer.id,
                col(Interaction.assigned_agent_id).is_not(None),
            )
            .order_by(col(Interaction.created_at).desc())
            .limit(1)
        )
    ).first()

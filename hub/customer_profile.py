"""The 360 view: who the customer is, what they are worth, every interaction on every channel."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.customer_search import suggest_duplicates
from hub.customers import interaction_history
from hub.errors import NotFound
from hub.models import (
    BackofficeRecord,
    Customer,
    CustomerIdentity,
    CustomerMerge,
    CustomerNote,
    Order,
)


def customer_fields(c: Customer) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "kind": c.kind,
        "tier": c.tier,
        "tier_reasons": c.tier_reasons,
        "lifetime_value": c.lifetime_value,
        "company": c.company,
        "contact_person": c.contact_person,
        "language": c.language,
        "timezone": c.timezone,
        "address": c.address,
        "account_manager_id": c.account_manager_id,
        "parent_id": c.parent_id,
        "merged_into_id": c.merged_into_id,
        "tags": c.tags,
        "preferences": c.preferences,
        "consent": c.consent,
        "rfm": c.rfm,
        "churn_risk": c.churn_risk,
        "churn_reasons": c.churn_reasons,
        "created_at": c.created_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
    }


async def customer_360(
    session: AsyncSession, customer_id: str, *, limit: int = 100
) -> dict[str, Any]:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("no such customer")
    identities = (
        await session.exec(
            select(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id)
        )
    ).all()
    orders = (
        await session.exec(
            select(Order)
            .where(Order.customer_id == customer_id)
            .order_by(col(Order.ordered_at).desc())
            .limit(limit)
        )
    ).all()
    notes = (
        await session.exec(
            select(CustomerNote)
            .where(CustomerNote.customer_id == customer_id)
            .order_by(col(CustomerNote.created_at).desc())
            .limit(limit)
        )
    ).all()
    contacts = (
        await session.exec(select(Customer).where(Customer.parent_id == customer_id).limit(limit))
    ).all()
    merges = (
        await session.exec(select(CustomerMerge).where(CustomerMerge.survivor_id == customer_id))
    ).all()
    backoffice = await session.get(BackofficeRecord, customer_id)
    return {
        **customer_fields(customer),
        "identities": [
            {"kind": i.kind, "value": i.value, "confidence": i.confidence} for i in identities
        ],
        "interactions": await interaction_history(
            session, customer_id, limit=limit, preview_chars=200
        ),
        "orders": [
            {
                "id": o.id,
                "external_ref": o.external_ref,
                "amount": o.amount,
                "currency": o.currency,
                "product": o.product,
                "ordered_at": o.ordered_at.isoformat(),
            }
            for o in orders
        ],
        "notes": [
            {
                "id": n.id,
                "author": n.author_name,
                "body": n.body,
                "created_at": n.created_at.isoformat(),
            }
            for n in notes
        ],
        "contacts": [{"id": c.id, "name": c.name} for c in contacts],
        "merges": [
            {
                "id": m.id,
                "merged_id": m.merged_id,
                "merged_at": m.merged_at.isoformat(),
                "undone": m.undone_at is not None,
            }
            for m in merges
        ],
        "duplicates": await suggest_duplicates(session, customer),
        "backoffice": (
            {
                "data": backoffice.data,
                "fetched_at": backoffice.fetched_at.isoformat(),
                "error": backoffice.error,
            }
            if backoffice
            else None
        ),
    }

"""Privacy requests: export everything we hold about a customer, or erase it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import col, delete, select

from hub.context import Hub
from hub.customer_profile import customer_360
from hub.errors import NotFound
from hub.events import CustomerUpdated
from hub.models import (
    AuditLog,
    BackofficeRecord,
    Customer,
    CustomerIdentity,
    CustomerNote,
    Interaction,
    Message,
    Order,
    StoredAttachment,
)


async def export_customer_data(hub: Hub, customer_id: str) -> dict[str, Any]:
    async with hub.store.session() as session:
        data = await customer_360(session, customer_id, limit=100_000)
        messages = (
            await session.exec(
                select(Message)
                .join(Interaction, col(Interaction.id) == col(Message.interaction_id))
                .where(Interaction.customer_id == customer_id)
                .order_by(col(Message.created_at))
            )
        ).all()
    data["messages"] = [
        {
            "interaction_id": m.interaction_id,
            "channel": m.channel,
            "direction": m.direction,
            "subject": m.subject,
            "body": m.body,
            "created_at": m.created_at.isoformat(),
        }
        for m in messages
    ]
    data.pop("duplicates", None)
    return data


async def erase_customer(hub: Hub, customer_id: str, *, actor: str) -> None:
    """Personal data goes; interaction rows stay (anonymized) so statistics remain true."""
    async with hub.transaction() as tx:
        customer = await tx.session.get(Customer, customer_id)
        if customer is None:
            raise NotFound("no such customer")
        for model in (CustomerIdentity, CustomerNote, Order, BackofficeRecord):
            await tx.session.exec(delete(model).where(model.customer_id == customer_id))  # type: ignore[arg-type]
        interaction_ids = select(Interaction.id).where(Interaction.customer_id == customer_id)
        message_ids = select(Message.id).where(col(Message.interaction_id).in_(interaction_ids))
        await tx.session.exec(
            delete(StoredAttachment).where(col(StoredAttachment.message_id).in_(message_ids))
        )
        await tx.session.exec(
            sa.update(Message)
            .where(col(Message.interaction_id).in_(interaction_ids))
            .values(body="[erased]", subject="", sender="", meta={})
        )
        await tx.session.exec(
            sa.update(Interaction)
            .where(col(Interaction.customer_id) == customer_id)
            .values(subject="", customer_address="", wrapup_note="", meta={})
        )
        for key in ("company", "contact_person", "language", "timezone", "address"):
            setattr(customer, key, "")
        customer.name = "erased customer"
        customer.tags, customer.preferences, customer.consent = [], {}, {}
        customer.lifetime_value, customer.rfm, customer.tier_reasons = 0.0, {}, []
        tx.session.add_all(
            [customer, AuditLog(actor=actor, action="customer.erase", target=customer_id)]
        )
        tx.emit(CustomerUpdated(customer_id=customer_id))

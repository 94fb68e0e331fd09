"""Merge two customers (a person confirms it) and undo a merge; both leave an audit trail."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col, select

from hub.context import Hub, Tx
from hub.customer_value import recompute_value
from hub.errors import Conflict, Invalid, NotFound
from hub.events import CustomerUpdated
from hub.models import (
    AuditLog,
    Customer,
    CustomerIdentity,
    CustomerMerge,
    CustomerNote,
    Interaction,
    Order,
)

MOVED = {
    "identities": CustomerIdentity,
    "interactions": Interaction,
    "orders": Order,
    "notes": CustomerNote,
}


async def merge_customers(hub: Hub, survivor_id: str, merged_id: str, *, actor: str) -> str:
    """Everything of `merged_id` moves to `survivor_id`; returns the merge id (for unmerge)."""
    if survivor_id == merged_id:
        raise Invalid("a customer cannot be merged into itself")
    async with hub.transaction() as tx:
        survivor = await tx.session.get(Customer, survivor_id)
        merged = await tx.session.get(Customer, merged_id)
        if survivor is None or merged is None:
            raise NotFound("no such customer")
        if survivor.merged_into_id or merged.merged_into_id:
            raise Conflict("one of these customers was already merged away")
        moved: dict[str, list[str]] = {}
        for name, model in MOVED.items():
            ids = list(
                (
                    await tx.session.exec(
                        select(model.id).where(model.customer_id == merged_id)  # type: ignore[attr-defined]
                    )
                ).all()
            )
            moved[name] = ids
            await _move(tx, model, ids, survivor_id)
        survivor.tags = sorted(set(survivor.tags) | set(merged.tags))
        for key, value in merged.preferences.items():
            survivor.preferences.setdefault(key, value)
        survivor.consent = {**merged.consent, **survivor.consent}
        merged.merged_into_id = survivor_id
        record = CustomerMerge(
            survivor_id=survivor_id, merged_id=merged_id, moved=moved, actor=actor
        )
        tx.session.add_all(
            [
                merged,
                record,
                AuditLog(
                    actor=actor,
                    action="customer.merge",
                    target=survivor_id,
                    detail={"merged": merged_id},
                ),
            ]
        )
        await recompute_value(tx.session, survivor, hub.settings.customers, hub.now())
        tx.emit(CustomerUpdated(customer_id=survivor_id))
    return record.id


async def unmerge_customers(hub: Hub, merge_id: str, *, actor: str) -> None:
    """Move back exactly what the merge moved (later additions stay with the survivor)."""
    async with hub.transaction() as tx:
        record = await tx.session.get(CustomerMerge, merge_id)
        if record is None:
            raise NotFound("no such merge")
        if record.undone_at is not None:
            raise Conflict("this merge was already undone")
        for name, ids in record.moved.items():
            await _move(tx, MOVED[name], ids, record.merged_id)
        merged = await tx.session.get(Customer, record.merged_id)
        survivor = await tx.session.get(Customer, record.survivor_id)
        assert merged is not None and survivor is not None
        merged.merged_into_id = None
        record.undone_at = hub.now()
        tx.session.add_all(
            [
                merged,
                record,
                AuditLog(
                    actor=actor,
                    action="customer.unmerge",
                    target=record.survivor_id,
                    detail={"merged": record.merged_id},
                ),
            ]
        )
        for customer in (survivor, merged):
            await recompute_value(tx.session, customer, hub.settings.customers, hub.now())
            tx.emit(CustomerUpdated(customer_id=customer.id))


async def _move(tx: Tx, model: type, ids: list[str], customer_id: str) -> None:
    if ids:
        await tx.session.exec(
            sa.update(model).where(col(model.id).in_(ids)).values(customer_id=customer_id)  # type: ignore[attr-defined]
        )


async def merges_of(tx: Tx, customer_id: str) -> list[CustomerMerge]:
    return list(
        (
            await tx.session.exec(
                select(CustomerMerge).where(CustomerMerge.survivor_id == customer_id)
            )
        ).all()
    )

"""Create and update customers, their identities, orders, notes and consent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from hub.context import Hub, Tx
from hub.customer_value import recompute_value
from hub.customers import IDENTITY_KINDS, normalize_identity
from hub.errors import Conflict, Invalid, NotFound
from hub.events import CustomerUpdated
from hub.models import AuditLog, Customer, CustomerIdentity, CustomerNote, Order

EDITABLE = (
    "name",
    "kind",
    "company",
    "contact_person",
    "language",
    "timezone",
    "address",
    "account_manager_id",
    "parent_id",
    "tags",
    "preferences",
    "consent",
)
KINDS = ("person", "household", "enterprise")


def check_fields(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(EDITABLE) - {"identities"}
    if unknown:
        raise Invalid(f"unknown fields: {', '.join(sorted(unknown))}")
    if "kind" in fields and fields["kind"] not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}")
    if "tags" in fields:
        tags = fields["tags"]
        if (
            not isinstance(tags, list)
            or len(tags) > 50
            or not all(isinstance(t, str) and 0 < len(t) <= 64 for t in tags)
        ):
            raise Invalid("tags are a list of up to 50 short strings")
    for key in ("preferences", "consent"):
        if key in fields and not isinstance(fields[key], dict):
            raise Invalid(f"{key} must be an object")
    if "preferences" in fields and not _bounded_preferences(fields["preferences"]):
        raise Invalid("preferences map up to 50 short keys to text of at most 500 characters")
    if "consent" in fields and not all(isinstance(v, bool) for v in fields["consent"].values()):
        raise Invalid("consent maps a channel to true or false")
    for key in ("name", "company", "contact_person", "address"):
        if key in fields and (not isinstance(fields[key], str) or len(fields[key]) > 500):
            raise Invalid(f"{key} must be text of at most 500 characters")
    return fields


def _bounded_preferences(prefs: dict[str, Any]) -> bool:
    return len(prefs) <= 50 and all(
        isinstance(k, str) and 0 < len(k) <= 64 and isinstance(v, str) and len(v) <= 500
        for k, v in prefs.items()
    )


async def add_identity(
    hub: Hub, tx: Tx, customer_id: str, kind: str, raw: str, confidence: str = "known"
) -> CustomerIdentity:
    if kind not in IDENTITY_KINDS:
        raise Invalid(f"identity kind must be one of {', '.join(IDENTITY_KINDS)}")
    value = normalize_identity(kind, raw, hub.settings.default_region)
    if value is None:
        raise Invalid(f"cannot read the {kind} {raw[:64]!r}")
    existing = (
        await tx.session.exec(
            select(CustomerIdentity).where(
                CustomerIdentity.kind == kind, CustomerIdentity.value == value
            )
        )
    ).first()
    if existing is not None:
        if existing.customer_id == customer_id:
            return existing
        raise Conflict(
            f"{value} belongs to another customer; merge them instead",
            customer_id=existing.customer_id,
        )
    identity = CustomerIdentity(
        customer_id=customer_id, kind=kind, value=value, confidence=confidence
    )
    tx.session.add(identity)
    return identity


async def save_customer(
    hub: Hub, fields: dict[str, Any], *, customer_id: str | None = None, actor: str = ""
) -> Customer:
    check_fields(fields)
    try:
        async with hub.transaction() as tx:
            if customer_id is None:
                customer = Customer(name=str(fields.get("name", ""))[:200])
            else:
                found = await tx.session.get(Customer, customer_id)
                if found is None:
                    raise NotFound("no such customer")
                customer = found
            for key in EDITABLE:
                if key in fields:
                    setattr(customer, key, fields[key])
            tx.session.add(customer)
            await tx.session.flush()
            for ident in fields.get("identities", []) or []:
                if not isinstance(ident, dict):
                    raise Invalid("identities are objects {kind, value}")
                await add_identity(
                    hub,
                    tx,
                    customer.id,
                    str(ident.get("kind", "")),
                    str(ident.get("value", "")),
                    str(ident.get("confidence", "known")),
                )
            await recompute_value(tx.session, customer, hub.settings.customers, hub.now())
            tx.session.add(AuditLog(actor=actor, action="customer.save", target=customer.id))
            tx.emit(CustomerUpdated(customer_id=customer.id))
    except IntegrityError:
        raise Conflict("an identity of this customer belongs to another customer") from None
    return customer


async def add_order(
    hub: Hub,
    customer_id: str,
    *,
    amount: float,
    currency: str = "USD",
    product: str = "",
    external_ref: str = "",
    ordered_at: datetime | None = None,
) -> Order:
    if not -1e9 < amount < 1e9:
        raise Invalid("amount out of range")
    if len(currency) != 3:
        raise Invalid("currency is a 3-letter code")
    async with hub.transaction() as tx:
        customer = await tx.session.get(Customer, customer_id)
        if customer is None:
            raise NotFound("no such customer")
        order = Order(
            customer_id=customer_id,
            amount=amount,
            currency=currency.upper(),
            product=product[:200],
            external_ref=external_ref[:100],
            ordered_at=ordered_at or hub.now(),
        )
        tx.session.add(order)
        await tx.session.flush()
        await recompute_value(tx.session, customer, hub.settings.customers, hub.now())
        tx.emit(CustomerUpdated(customer_id=customer_id))
    return order


async def add_note(
    hub: Hub, customer_id: str, body: str, *, author_id: str, author: str
) -> CustomerNote:
    body = (body or "").strip()
    if not body or len(body) > 5000:
        raise Invalid("a note is 1 to 5000 characters")
    async with hub.transaction() as tx:
        if await tx.session.get(Customer, customer_id) is None:
            raise NotFound("no such customer")
        note = CustomerNote(
            customer_id=customer_id,
            body=body,
            author_agent_id=author_id,
            author_name=author,
            created_at=hub.now(),
        )
        tx.session.add(note)
        tx.emit(CustomerUpdated(customer_id=customer_id))
    return note


async def set_consent(hub: Hub, customer_id: str, channel: str, allowed: bool, *, why: str) -> None:
    async with hub.transaction() as tx:
        customer = await tx.session.get(Customer, customer_id)
        if customer is None:
            raise NotFound("no such customer")
        customer.consent = {**customer.consent, channel: allowed}
        tx.session.add_all(
            [
                customer,
                AuditLog(
                    actor=why,
                    action="customer.consent",
                    target=customer_id,
                    detail={channel: allowed},
                ),
            ]
        )
        tx.emit(CustomerUpdated(customer_id=customer_id))

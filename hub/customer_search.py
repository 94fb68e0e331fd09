"""Find customers: by name (any script), phone in any format, email, tag; suggest duplicates."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.models import Customer, CustomerIdentity
from hub.phones import to_e164

MAX_RESULTS = 50


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_customers(
    session: AsyncSession,
    q: str,
    *,
    tag: str | None = None,
    region: str = "US",
    limit: int = 20,
) -> list[Customer]:
    """Exact identity matches first (phone, email), then name substrings; merged ones excluded."""
    text = q.strip()[:200]
    limit = max(1, min(limit, MAX_RESULTS))
    found: dict[str, Customer] = {}
    pairs = [
        ("phone", to_e164(text, region)),
        ("email", text.lower() if "@" in text else None),
        ("chat", text),
        ("external", text),
    ]
    wanted = [
        sa.and_(col(CustomerIdentity.kind) == k, col(CustomerIdentity.value) == v)
        for k, v in pairs
        if v
    ]
    if text and wanted:  # (kind, value) equality: the unique index answers it
        rows = (
            await session.exec(
                select(Customer)
                .join(CustomerIdentity, col(CustomerIdentity.customer_id) == col(Customer.id))
                .where(or_(*wanted), col(Customer.merged_into_id).is_(None))
                .limit(limit)
            )
        ).all()
        found.update((c.id, c) for c in rows)
    query = select(Customer).where(col(Customer.merged_into_id).is_(None))
    if text:
        # A plain substring LIKE on the case-folded name: the trigram index serves it.
        query = query.where(col(Customer.search_name).like(_like(text.casefold()), escape="\\"))
    if tag:
        # JSON text match narrows the rows; the exact tag is checked below.
        query = query.where(sa.cast(col(Customer.tags), sa.Text).like(_like(tag), escape="\\"))
    if text or tag:
        rows = (await session.exec(query.limit(limit))).all()
        for c in sorted(rows, key=lambda c: c.search_name):
            if tag is None or tag in c.tags:
                found.setdefault(c.id, c)
    return list(found.values())[:limit]


async def suggest_duplicates(session: AsyncSession, customer: Customer) -> list[dict[str, Any]]:
    """Same name plus a partial match (email domain, or the last 6 phone digits): for a person to
    confirm. Never merged automatically: a name alone is too weak a signal."""
    if not customer.search_name:
        return []
    mine = (
        await session.exec(
            select(CustomerIdentity).where(CustomerIdentity.customer_id == customer.id)
        )
    ).all()
    domains = {i.value.split("@", 1)[1] for i in mine if i.kind == "email" and "@" in i.value}
    tails = {i.value[-6:] for i in mine if i.kind == "phone"}
    same_name = (
        await session.exec(
            select(Customer)
            .where(
                Customer.search_name == customer.search_name,
                Customer.id != customer.id,
                col(Customer.merged_into_id).is_(None),
            )
            .limit(20)
        )
    ).all()
    out = []
    for other in same_name:
        theirs = (
            await session.exec(
                select(CustomerIdentity).where(CustomerIdentity.customer_id == other.id)
            )
        ).all()
        why = [
            f"same email domain {i.value.split('@', 1)[1]}"
            for i in theirs
            if i.kind == "email" and "@" in i.value and i.value.split("@", 1)[1] in domains
        ]
        why += [
            f"phone ending {i.value[-6:]}"
            for i in theirs
            if i.kind == "phone" and i.value[-6:] in tails
        ]
        if why:
            out.append({"id": other.id, "name": other.name, "reasons": ["same name", *why]})
    return out

"""Customer value: lifetime value, tier from configured rules (with reasons), churn risk, RFM."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.models import Customer, Interaction, Order, UTCDateTime
from hub.settings import CustomerSettings


def tier_for(customer: Customer, settings: CustomerSettings) -> tuple[str, list[str]]:
    tags = {t.lower() for t in customer.tags}
    for rule in settings.tier_rules:
        reasons = []
        if rule.min_lifetime_value is not None:
            if customer.lifetime_value < rule.min_lifetime_value:
                continue
            reasons.append(
                f"lifetime value {customer.lifetime_value:,.0f} >= {rule.min_lifetime_value:,.0f}"
            )
        if rule.tag is not None:
            if rule.tag.lower() not in tags:
                continue
            reasons.append(f"tagged {rule.tag}")
        if rule.kind is not None:
            if customer.kind != rule.kind:
                continue
            reasons.append(f"{rule.kind} account")
        if reasons:
            return rule.tier, reasons
    return settings.default_tier, []


async def recompute_value(
    session: AsyncSession, customer: Customer, settings: CustomerSettings, now: datetime
) -> None:
    """LTV, tier and churn risk, at once on every change (RFM is relative: see recompute_rfm)."""
    total, count, _last = (
        await session.exec(
            select(
                sa.func.coalesce(sa.func.sum(Order.amount), 0.0),
                sa.func.count(),
                sa.func.max(Order.ordered_at, type_=UTCDateTime),
            ).where(Order.customer_id == customer.id)
        )
    ).one()
    customer.lifetime_value = round(float(total), 2)
    customer.tier, customer.tier_reasons = tier_for(customer, settings)
    customer.churn_reasons = await churn_reasons(session, customer, settings, now, int(count))
    customer.churn_risk = bool(customer.churn_reasons)
    customer.updated_at = now
    session.add(customer)


async def churn_reasons(
    session: AsyncSession,
    customer: Customer,
    settings: CustomerSettings,
    now: datetime,
    orders: int,
) -> list[str]:
    reasons: list[str] = []
    dates = (
        await session.exec(
            select(Order.ordered_at)
            .where(Order.customer_id == customer.id)
            .order_by(col(Order.ordered_at))
        )
    ).all()
    if orders >= 3:
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(dates)]
        usual = sum(gaps) / len(gaps)
        silent = (now - dates[-1]).total_seconds()
        if usual > 0 and silent > 2 * usual:
            reasons.append(
                f"no order for {silent / 86400:.0f} days (usually every {usual / 86400:.0f})"
            )
    window = now - timedelta(days=settings.churn_window_days)
    complaints = (
        await session.exec(
            select(sa.func.count()).where(
                Interaction.customer_id == customer.id,
                col(Interaction.disposition).in_(settings.churn_complaint_dispositions),
                col(Interaction.created_at) >= window,
            )
        )
    ).one()
    if complaints >= 2:
        reasons.append(f"{complaints} complaints in {settings.churn_window_days} days")
    return reasons


def quintiles(values: Sequence[float]) -> list[float]:
    """The 20/40/60/80 % cut points of `values`."""
    ordered = sorted(values)
    if not ordered:
        return [0.0] * 4
    return [ordered[min(len(ordered) - 1, int(len(ordered) * q / 5))] for q in range(1, 5)]


def score(value: float, cuts: list[float], *, lower_is_better: bool = False) -> int:
    s = 1 + sum(value > c for c in cuts)
    return 6 - s if lower_is_better else s


async def recompute_rfm(session: AsyncSession, now: datetime) -> int:
    """Recency, frequency and monetary quintiles (5 = best) across every customer with orders."""
    rows = (
        await session.exec(
            select(
                Order.customer_id,
                sa.func.max(Order.ordered_at, type_=UTCDateTime),
                sa.func.count(),
                sa.func.sum(Order.amount),
            ).group_by(Order.customer_id)
        )
    ).all()
    recency = [(now - last).total_seconds() / 86400 for _, last, _, _ in rows]
    r_cut, f_cut, m_cut = (
        quintiles(recency),
        quintiles([r[2] for r in rows]),
        quintiles([float(r[3]) for r in rows]),
    )
    updates = [
        {
            "id": customer_id,
            "rfm": {
                "r": score(days, r_cut, lower_is_better=True),
                "f": score(count, f_cut),
                "m": score(float(amount), m_cut),
            },
        }
        for (customer_id, _last, count, amount), days in zip(rows, recency, strict=True)
    ]
    for start in range(0, len(updates), 5000):  # ORM bulk UPDATE by primary key
        await session.execute(sa.update(Customer), updates[start : start + 5000])
    return len(rows)


async def recompute_values_bulk(
    session: AsyncSession,
    customers: Sequence[Customer],
    settings: CustomerSettings,
    now: datetime,
) -> None:
    """recompute_value for a batch (imports) in three queries instead of three per customer."""
    ids = [c.id for c in customers]
    if not ids:
        return
    dates: dict[str, list[datetime]] = {i: [] for i in ids}
    totals: dict[str, float] = dict.fromkeys(ids, 0.0)
    for customer_id, when, amount in (
        await session.exec(
            select(Order.customer_id, Order.ordered_at, Order.amount)
            .where(col(Order.customer_id).in_(ids))
            .order_by(col(Order.ordered_at))
        )
    ).all():
        dates[customer_id].append(when)
        totals[customer_id] += float(amount)
    window = now - timedelta(days=settings.churn_window_days)
    complaints = dict(
        (
            await session.exec(
                select(Interaction.customer_id, sa.func.count())
                .where(
                    col(Interaction.customer_id).in_(ids),
                    col(Interaction.disposition).in_(settings.churn_complaint_dispositions),
                    col(Interaction.created_at) >= window,
                )
                .group_by(Interaction.customer_id)
            )
        ).all()
    )
    for customer in customers:
        customer.lifetime_value = round(totals[customer.id], 2)
        customer.tier, customer.tier_reasons = tier_for(customer, settings)
        customer.churn_reasons = _churn(
            dates[customer.id], complaints.get(customer.id, 0), settings, now
        )
        customer.churn_risk = bool(customer.churn_reasons)
        customer.updated_at = now
        session.add(customer)


def _churn(
    dates: list[datetime], complaints: int, settings: CustomerSettings, now: datetime
) -> list[str]:
    reasons = []
    if len(dates) >= 3:
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(dates)]
        usual = sum(gaps) / len(gaps)
        silent = (now - dates[-1]).total_seconds()
        if usual > 0 and silent > 2 * usual:
            reasons.append(
                f"no order for {silent / 86400:.0f} days (usually every {usual / 86400:.0f})"
            )
    if complaints >= 2:
        reasons.append(f"{complaints} complaints in {settings.churn_window_days} days")
    return reasons

"""Offers taken back to the queue: timed out, rejected, revoked (an agent left, a call ended).

A fixed number of statements for any number of offers. One at a time, each cost a
compare-and-set, a refresh, a read and a write of its offer and of its agent: a routing pass
expiring 100 offers over a 30 ms link to PostgreSQL spent about 30 s on it, while the offers it
had just made timed out unseen (tests/faults/test_slow_and_broken_links.py, docs/performance.md).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hub.context import Hub, Tx
from hub.events import AgentStatusChanged, InteractionQueued, OfferRevoked
from hub.models import Interaction
from hub.tables import AGENTS, INTERACTIONS, OFFERS

_I = INTERACTIONS.c
TAKEN_COLUMNS = (
    _I.id,
    _I.offer_id,
    _I.offered_agent_id,
    _I.excluded_agent_ids,
    _I.excluded_until,
    _I.queue_id,
)
# The compare-and-set stays although the rows are locked (PostgreSQL: FOR UPDATE; SQLite: every
# caller has written before, so its transaction holds the write lock).
REQUEUE = (
    sa.update(INTERACTIONS)
    .where(
        _I.id == sa.bindparam("b_id"),
        _I.state == "offered",
        _I.offer_id == sa.bindparam("b_offer"),
    )
    .values(
        state="queued",
        offered_agent_id=None,
        offer_id=None,
        offer_expires_at=None,
        excluded_agent_ids=sa.bindparam("b_excluded"),
        excluded_until=sa.bindparam("b_until"),
    )
)
CLOSE_OFFERS = (
    sa.update(OFFERS)
    .where(OFFERS.c.id.in_(sa.bindparam("ids", expanding=True)), OFFERS.c.outcome == "pending")
    .values(outcome=sa.bindparam("outcome"), decided_at=sa.bindparam("now"))
)
MISSED = (
    sa.update(AGENTS)
    .where(AGENTS.c.id == sa.bindparam("b_id"))
    .values(missed_offers=AGENTS.c.missed_offers + sa.bindparam("b_missed"))
)
OVER_THE_LIMIT = sa.select(AGENTS.c.id).where(
    AGENTS.c.id.in_(sa.bindparam("ids", expanding=True)),
    AGENTS.c.status == "available",
    AGENTS.c.missed_offers >= sa.bindparam("limit"),
)
SET_AWAY = (
    sa.update(AGENTS)
    .where(AGENTS.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(status="away", status_reason="missed offers", status_since=sa.bindparam("now"))
)


async def take_back(
    hub: Hub, tx: Tx, where: list[Any], *, outcome: str, now: datetime
) -> list[Any]:
    """Every offered interaction matching `where` back to the queue, keeping its enqueue time;
    the agent who had the offer is skipped for it for `routing.exclusion_s` from now, and so
    again are those it had skipped before. Returns the rows taken back (TAKEN_COLUMNS).

    Three statements for any number. The rows are locked as they are read, so a concurrent
    accept or reject either went first (the row is no longer offered: not taken back) or waits.
    """
    rows = list(
        (
            await tx.session.execute(
                sa.select(*TAKEN_COLUMNS)
                .where(_I.state == "offered", *where)
                .order_by(_I.id)
                .with_for_update()
            )
        ).all()
    )
    if not rows:
        return []
    until = now + timedelta(seconds=hub.settings.routing.exclusion_s)
    await tx.session.execute(
        REQUEUE,
        [
            {
                "b_id": row.id,
                "b_offer": row.offer_id,
                "b_excluded": list(dict.fromkeys([*row.excluded_agent_ids, row.offered_agent_id]))
                if row.offered_agent_id
                else row.excluded_agent_ids,
                "b_until": until if row.offered_agent_id else row.excluded_until,
            }
            for row in rows
        ],
    )
    offer_ids = [row.offer_id for row in rows if row.offer_id]
    if offer_ids:
        await tx.session.execute(CLOSE_OFFERS, {"ids": offer_ids, "outcome": outcome, "now": now})
    for row in rows:
        tx.emit(
            OfferRevoked(
                offer_id=row.offer_id or "",
                interaction_id=row.id,
                agent_id=row.offered_agent_id or "",
                reason=outcome,
            )
        )
        tx.emit(InteractionQueued(interaction_id=row.id, queue_id=row.queue_id, reason=outcome))
    return rows


async def expire_offers(hub: Hub, tx: Tx, now: datetime) -> None:
    """Offers whose time ran out go back to the queue; an agent who has now missed
    `routing.max_missed_offers` in a row is set away."""
    rows = await take_back(hub, tx, [_I.offer_expires_at <= now], outcome="timeout", now=now)
    if not rows:
        return
    hub.metrics.offers.labels("timeout").inc(len(rows))
    missed = Counter(row.offered_agent_id for row in rows if row.offered_agent_id)
    if not missed:
        return
    await tx.session.execute(MISSED, [{"b_id": a, "b_missed": n} for a, n in missed.items()])
    limit = hub.settings.routing.max_missed_offers
    away = list(
        (await tx.session.execute(OVER_THE_LIMIT, {"ids": sorted(missed), "limit": limit}))
        .scalars()
        .all()
    )
    if not away:
        return
    await tx.session.execute(SET_AWAY, {"ids": away, "now": now})
    for agent_id in away:
        tx.emit(AgentStatusChanged(agent_id=agent_id, status="away", reason="missed offers"))


async def requeue(
    hub: Hub, tx: Tx, interaction: Interaction, *, outcome: str, now: datetime
) -> bool:
    """One offer taken back (take_back), if it is still the one `interaction` holds; `interaction`
    is refreshed. False when a concurrent caller (a reject racing a timeout) took it first."""
    where = [_I.id == interaction.id, _I.offer_id == (interaction.offer_id or "")]
    if not await take_back(hub, tx, where, outcome=outcome, now=now):
        return False
    await tx.session.refresh(interaction)
    return True

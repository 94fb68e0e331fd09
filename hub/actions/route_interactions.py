"""One routing pass: expire stale offers, ask the pure engine, persist offers. Fenced in the DB."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import TypeVar

import sqlalchemy as sa
from sqlmodel import col, select

from hub.context import Hub, Tx
from hub.events import AgentStatusChanged, InteractionQueued, OfferMade, OfferRevoked
from hub.models import Agent, Interaction, Offer, RoutingFence
from hub.routing_snapshot import load_snapshot
from routing.engine import decide
from routing.types import Decision

M = TypeVar("M", Interaction, Agent)


async def route_interactions(hub: Hub) -> int:
    """Run one pass; returns how many offers it made.

    The first statement bumps the single routing_fence row. On PostgreSQL that takes a row lock
    held until commit, on SQLite it takes the database write lock: either way two passes (in one
    process or in several) never read the same snapshot, so no interaction is offered twice and
    no agent is pushed over capacity, whatever a Redis lease or a paused process does.
    """
    started = time.perf_counter()
    async with hub.transaction() as tx:
        await _fence(tx)
        now = hub.now()
        await expire_offers(hub, tx, now)
        snapshot = await load_snapshot(tx.session, hub.settings, now)
        decisions = decide(snapshot, now.timestamp())
        # Two queries for every row the offers touch (was two round trips per offer: a 50-offer
        # pass on SQLite took 440 ms, most of it in 100 single-row SELECTs).
        its = await _by_id(tx, Interaction, {d.interaction_id for d in decisions})
        agents = await _by_id(tx, Agent, {d.agent_id for d in decisions})
        for decision in decisions:
            _make_offer(
                hub,
                tx,
                decision,
                now,
                its.get(decision.interaction_id),
                agents.get(decision.agent_id),
            )
    hub.metrics.routing_pass.observe(time.perf_counter() - started)
    return len(decisions)


async def _fence(tx: Tx) -> None:
    result = await tx.session.exec(
        sa.update(RoutingFence)
        .where(col(RoutingFence.id) == 1)
        .values(token=col(RoutingFence.token) + 1)
    )
    if result.rowcount == 0:  # the migration seeds the row; only a hand-deleted row gets here
        raise RuntimeError("routing_fence row is missing; run `python -m hub migrate`")


async def expire_offers(hub: Hub, tx: Tx, now: datetime) -> None:
    stale = (
        await tx.session.exec(
            select(Interaction).where(
                Interaction.state == "offered", col(Interaction.offer_expires_at) <= now
            )
        )
    ).all()
    for interaction in stale:
        agent_id = interaction.offered_agent_id or ""
        if not await requeue(tx, interaction, agent_id, outcome="timeout", now=now):
            continue
        hub.metrics.offers.labels("timeout").inc()
        agent = await tx.session.get(Agent, agent_id)
        if agent is None:
            continue
        agent.missed_offers += 1
        limit = hub.settings.routing.max_missed_offers
        if agent.missed_offers >= limit and agent.status == "available":
            agent.status, agent.status_reason, agent.status_since = "away", "missed offers", now
            tx.emit(AgentStatusChanged(agent_id=agent.id, status="away", reason="missed offers"))
        tx.session.add(agent)


async def requeue(
    tx: Tx, interaction: Interaction, agent_id: str, *, outcome: str, now: datetime
) -> bool:
    """Back to the queue keeping its original enqueue time; the agent who let it go is skipped.

    A compare-and-set on (state, offer_id): a stale caller (a reject racing a timeout that was
    already re-offered elsewhere) changes nothing and gets False.
    """
    offer_id = interaction.offer_id or ""
    result = await tx.session.exec(
        sa.update(Interaction)
        .where(
            col(Interaction.id) == interaction.id,
            col(Interaction.state) == "offered",
            col(Interaction.offer_id) == offer_id,
        )
        .values(state="queued", offered_agent_id=None, offer_id=None, offer_expires_at=None)
    )
    if result.rowcount != 1:
        return False
    await tx.session.refresh(interaction)
    offer = await tx.session.get(Offer, offer_id)
    if offer is not None and offer.outcome == "pending":
        offer.outcome, offer.decided_at = outcome, now
        tx.session.add(offer)
    if agent_id and agent_id not in interaction.excluded_agent_ids:
        interaction.excluded_agent_ids = [*interaction.excluded_agent_ids, agent_id]
        tx.session.add(interaction)
    tx.emit(
        OfferRevoked(
            offer_id=offer_id, interaction_id=interaction.id, agent_id=agent_id, reason=outcome
        )
    )
    tx.emit(
        InteractionQueued(
            interaction_id=interaction.id, queue_id=interaction.queue_id, reason=outcome
        )
    )
    return True


async def _by_id(tx: Tx, model: type[M], ids: set[str]) -> dict[str, M]:
    if not ids:
        return {}
    rows = (await tx.session.exec(select(model).where(col(model.id).in_(ids)))).all()
    return {row.id: row for row in rows}


def _make_offer(
    hub: Hub,
    tx: Tx,
    decision: Decision,
    now: datetime,
    interaction: Interaction | None,
    agent: Agent | None,
) -> None:
    if interaction is None or agent is None or interaction.state != "queued":
        return
    expires = now + timedelta(seconds=hub.settings.routing.offer_timeout_s)
    offer = Offer(
        interaction_id=interaction.id,
        agent_id=agent.id,
        offered_at=now,
        expires_at=expires,
        priority_explain=decision.priority.explain()[:500],
    )
    tx.session.add(offer)
    interaction.state = "offered"
    interaction.offered_agent_id = agent.id
    interaction.offer_id = offer.id
    interaction.offer_expires_at = expires
    interaction.priority = decision.priority.score
    interaction.priority_explain = decision.priority.explain()[:500]
    interaction.priority_parts = [
        {"label": p.label, "points": p.points} for p in decision.priority.parts
    ]
    agent.last_offered_at = now
    tx.session.add_all([interaction, agent])
    hub.metrics.offers.labels("made").inc()
    tx.emit(
        OfferMade(
            offer_id=offer.id,
            interaction_id=interaction.id,
            agent_id=agent.id,
            expires_at=expires.timestamp(),
        )
    )

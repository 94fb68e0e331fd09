"""One routing pass: expire stale offers, ask the pure engine, persist offers. Fenced in the DB."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import TypeVar

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.context import Hub, Tx
from hub.events import AgentStatusChanged, InteractionQueued, OfferMade, OfferRevoked
from hub.models import Agent, Interaction, Offer, RoutingFence
from hub.routing_snapshot import load_snapshot
from routing.engine import decide
from routing.types import Decision

M = TypeVar("M", Interaction, Agent)


OPTIMISTIC_TRIES = 3


async def route_interactions(hub: Hub) -> int:
    """Run one pass; returns how many offers it made.

    Passes never overlap, in one process or several, by a compare-and-set on the single
    routing_fence row: the pass reads the fence token, reads its snapshot and decides without
    holding any lock, then bumps the token only if it is still the one it read, in the same
    transaction that writes the offers (each re-read there: an interaction no longer queued or an
    agent no longer available gets none). A pass that loses the race decides again. The bump
    takes the PostgreSQL row lock / the SQLite write lock, but only for the writes: a pass that
    held SQLite's single write lock across its reads and decision (80 ms under a burst) stalled
    every webhook and accept behind it (docs/performance.md).
    """
    started = time.perf_counter()
    made = 0
    for _attempt in range(OPTIMISTIC_TRIES):
        outcome = await _optimistic_pass(hub)
        if outcome is not None:
            made = outcome
            break
    else:  # lost the race every time (many busy processes): wait for the lock instead
        made = await _fenced_pass(hub)
    hub.metrics.routing_pass.observe(time.perf_counter() - started)
    return made


async def _optimistic_pass(hub: Hub) -> int | None:
    now = hub.now()
    if await _offers_expired(hub, now):
        async with hub.transaction() as tx:
            await _fence(tx)
            await expire_offers(hub, tx, now)
    async with hub.store.session() as session:
        token = await _fence_token(session)
        snapshot = await load_snapshot(
            session, hub.settings, now, states=("queued",), only_if_room=True
        )
    decisions = decide(snapshot, now.timestamp())
    if not decisions:
        return 0
    async with hub.transaction() as tx:
        if not await _fence(tx, expect=token):
            return None  # another pass committed since our snapshot: it may be stale
        await _write_offers(hub, tx, decisions, now)
    return len(decisions)


async def _fenced_pass(hub: Hub) -> int:
    async with hub.transaction() as tx:
        await _fence(tx)
        now = hub.now()
        await expire_offers(hub, tx, now)
        snapshot = await load_snapshot(tx.session, hub.settings, now, states=("queued",))
        decisions = decide(snapshot, now.timestamp())
        await _write_offers(hub, tx, decisions, now)
    return len(decisions)


async def _write_offers(hub: Hub, tx: Tx, decisions: list[Decision], now: datetime) -> None:
    # Two queries for every row the offers touch (was two round trips per offer: a 50-offer
    # pass on SQLite took 440 ms, most of it in 100 single-row SELECTs).
    its = await _by_id(tx, Interaction, {d.interaction_id for d in decisions})
    agents = await _by_id(tx, Agent, {d.agent_id for d in decisions})
    for decision in decisions:
        _make_offer(
            hub, tx, decision, now, its.get(decision.interaction_id), agents.get(decision.agent_id)
        )


async def _offers_expired(hub: Hub, now: datetime) -> bool:
    async with hub.store.session() as session:
        row = (
            await session.exec(
                select(Interaction.id)
                .where(Interaction.state == "offered", col(Interaction.offer_expires_at) <= now)
                .limit(1)
            )
        ).first()
    return row is not None


async def _fence_token(session: AsyncSession) -> int:
    token = (
        await session.exec(select(RoutingFence.token).where(col(RoutingFence.id) == 1))
    ).first()
    if token is None:  # the migration seeds the row; only a hand-deleted row gets here
        raise RuntimeError("routing_fence row is missing; run `python -m hub migrate`")
    return int(token)


async def _fence(tx: Tx, expect: int | None = None) -> bool:
    """Bump the fence token (only if it is still `expect`, when given)."""
    update = (
        sa.update(RoutingFence)
        .where(col(RoutingFence.id) == 1)
        .values(token=col(RoutingFence.token) + 1)
    )
    if expect is not None:
        update = update.where(col(RoutingFence.token) == expect)
    result = await tx.session.exec(update)
    if result.rowcount == 1:
        return True
    if expect is None:  # the migration seeds the row; only a hand-deleted row gets here
        raise RuntimeError("routing_fence row is missing; run `python -m hub migrate`")
    return False


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
    if agent.status != "available":  # went away or offline since the snapshot was read
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

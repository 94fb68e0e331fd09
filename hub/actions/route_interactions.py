"""One routing pass: expire stale offers, ask the pure engine, persist offers. Fenced in the DB."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.context import Hub, Tx
from hub.events import AgentStatusChanged, InteractionQueued, OfferMade, OfferRevoked
from hub.models import Agent, Interaction, Offer, RoutingFence, UTCDateTime, new_id
from hub.routing_snapshot import load_snapshot
from hub.tables import AGENTS, INTERACTIONS, OFFERS, ROUTING_FENCE, core
from routing.engine import decide
from routing.types import Decision

OPTIMISTIC_TRIES = 3
FENCE_MISSING = "routing_fence row is missing; run `python -m hub migrate`"

# Built once: a statement built per call has its cache key computed on every execution.
INSERT_OFFERS = sa.insert(OFFERS)

# Whether a pass has anything to do, with the fence token, in one statement: after every
# wrap-up and on every tick a pass used to read the token, the expired offers, the agents'
# loads, their pending wrap-ups, the agents and the queues (seven statements) before finding
# that nothing waited.
GATE = sa.select(
    core(RoutingFence.token),
    sa.exists().where(core(Interaction.state) == "queued"),
    sa.exists().where(
        core(Interaction.state) == "offered",
        core(Interaction.offer_expires_at) <= sa.bindparam("now", type_=UTCDateTime),
    ),
).where(core(RoutingFence.id) == 1)


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
    async with hub.store.session() as session:
        gate = (await session.execute(GATE, {"now": now})).first()
    if gate is None:
        raise RuntimeError(FENCE_MISSING)
    token, queued, expired = gate
    if expired:
        async with hub.transaction() as tx:
            await _fence(tx)
            await expire_offers(hub, tx, now)
        queued = True  # the expired offers are back in the queue
    if not queued:
        return 0
    async with hub.store.session() as session:
        if expired:  # our own expiry moved the fence
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
        return await _write_offers(hub, tx, decisions, now)


async def _fenced_pass(hub: Hub) -> int:
    async with hub.transaction() as tx:
        await _fence(tx)
        now = hub.now()
        await expire_offers(hub, tx, now)
        snapshot = await load_snapshot(tx.session, hub.settings, now, states=("queued",))
        decisions = decide(snapshot, now.timestamp())
        return await _write_offers(hub, tx, decisions, now) if decisions else 0


async def _write_offers(hub: Hub, tx: Tx, decisions: list[Decision], now: datetime) -> int:
    """Offers for the decisions whose agent is still available and whose interaction is still
    queued; returns how many. Statements on the tables, not ORM rows: the interactions and
    agents were loaded as entities (their JSON fields too) and flushed through the unit of
    work on every pass. Each interaction's UPDATE is a compare-and-set on `queued`, so a call
    hung up or a chat closed since the snapshot is never turned back into an offer."""
    # Each agent once, a compare-and-set on `available` (gone away or offline since the
    # snapshot was read: no offer) that also stamps the offer time the round robin reads.
    available: dict[str, bool] = {}
    expires = now + timedelta(seconds=hub.settings.routing.offer_timeout_s)
    offers: list[dict[str, Any]] = []
    for decision in decisions:
        agent_id = decision.agent_id
        if agent_id not in available:
            result = await tx.session.execute(AGENT_OFFERED, {"b_id": agent_id, "b_now": now})
            available[agent_id] = result.rowcount == 1  # type: ignore[attr-defined]
        if not available[agent_id]:
            continue
        offer_id, explain = new_id(), decision.priority.explain()[:500]
        parts = [{"label": p.label, "points": p.points} for p in decision.priority.parts]
        result = await tx.session.execute(
            OFFER_INTERACTION,
            {
                "b_id": decision.interaction_id,
                "b_agent": decision.agent_id,
                "b_offer": offer_id,
                "b_expires": expires,
                "b_score": decision.priority.score,
                "b_explain": explain,
                "b_parts": parts,
            },
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            continue
        offers.append(
            {
                "id": offer_id,
                "interaction_id": decision.interaction_id,
                "agent_id": decision.agent_id,
                "offered_at": now,
                "expires_at": expires,
                "outcome": "pending",
                "decided_at": None,
                "priority_explain": explain,
            }
        )
    if not offers:
        return 0
    await tx.session.execute(INSERT_OFFERS, offers)
    for offer in offers:
        hub.metrics.offers.labels("made").inc()
        tx.emit(
            OfferMade(
                offer_id=offer["id"],
                interaction_id=offer["interaction_id"],
                agent_id=offer["agent_id"],
                expires_at=expires.timestamp(),
            )
        )
    return len(offers)


_I = INTERACTIONS.c
OFFER_INTERACTION = (
    sa.update(INTERACTIONS)
    .where(_I.id == sa.bindparam("b_id"), _I.state == "queued")
    .values(
        state="offered",
        offered_agent_id=sa.bindparam("b_agent"),
        offer_id=sa.bindparam("b_offer"),
        offer_expires_at=sa.bindparam("b_expires"),
        priority=sa.bindparam("b_score"),
        priority_explain=sa.bindparam("b_explain"),
        priority_parts=sa.bindparam("b_parts"),
    )
)
AGENT_OFFERED = (
    sa.update(AGENTS)
    .where(AGENTS.c.id == sa.bindparam("b_id"), AGENTS.c.status == "available")
    .values(last_offered_at=sa.bindparam("b_now"))
)


async def _fence_token(session: AsyncSession) -> int:
    token = (
        await session.exec(select(RoutingFence.token).where(col(RoutingFence.id) == 1))
    ).first()
    if token is None:  # the migration seeds the row; only a hand-deleted row gets here
        raise RuntimeError(FENCE_MISSING)
    return int(token)


async def _fence(tx: Tx, expect: int | None = None) -> bool:
    """Bump the fence token (only if it is still `expect`, when given)."""
    if expect is None:
        result = await tx.session.execute(FENCE_BUMP)
    else:
        result = await tx.session.execute(FENCE_SWAP, {"expect": expect})
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return True
    if expect is None:  # the migration seeds the row; only a hand-deleted row gets here
        raise RuntimeError(FENCE_MISSING)
    return False


FENCE_BUMP = (
    sa.update(ROUTING_FENCE).where(ROUTING_FENCE.c.id == 1).values(token=ROUTING_FENCE.c.token + 1)
)
FENCE_SWAP = FENCE_BUMP.where(ROUTING_FENCE.c.token == sa.bindparam("expect"))


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
        if not await requeue(hub, tx, interaction, agent_id, outcome="timeout", now=now):
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
    hub: Hub, tx: Tx, interaction: Interaction, agent_id: str, *, outcome: str, now: datetime
) -> bool:
    """Back to the queue keeping its original enqueue time; the agent who let it go is skipped
    for it for `routing.exclusion_s` from now, and so again are those it had skipped before.

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
    if agent_id:
        interaction.excluded_agent_ids = list(
            dict.fromkeys([*interaction.excluded_agent_ids, agent_id])
        )
        interaction.excluded_until = now + timedelta(seconds=hub.settings.routing.exclusion_s)
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

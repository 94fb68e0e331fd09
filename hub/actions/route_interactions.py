"""One routing pass: expire stale offers, ask the pure engine, persist offers. Fenced in the DB."""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.actions.take_back_offers import expire_offers
from hub.context import Hub, Tx
from hub.events import OfferMade
from hub.models import Interaction, RoutingFence, UTCDateTime, new_id
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
    queued; returns how many. Four statements for any number of offers: one per offer (two
    UPDATEs each) made a pass of 100 offers over a 30 ms link to PostgreSQL last 6 s, longer
    than the offers' own timeout (docs/performance.md). The interactions' UPDATE is a
    compare-and-set on `queued`, so a call hung up or a chat closed since the snapshot is never
    turned back into an offer; the offers' countdown starts here, not at the snapshot."""
    # A compare-and-set on `available` (gone away or offline since the snapshot was read: no
    # offer) that also stamps the offer time the round robin reads.
    agents = sorted({d.agent_id for d in decisions})
    available = set(
        (await tx.session.execute(AGENTS_OFFERED, {"ids": agents, "now": now})).scalars()
    )
    offered_at = hub.now()
    expires = offered_at + timedelta(seconds=hub.settings.routing.offer_timeout_s)
    wanted: dict[str, dict[str, Any]] = {}
    for decision in decisions:
        if decision.agent_id not in available:
            continue
        wanted[new_id()] = {
            "b_id": decision.interaction_id,
            "b_agent": decision.agent_id,
            "b_expires": expires,
            "b_score": decision.priority.score,
            "b_explain": decision.priority.explain()[:500],
            "b_parts": [{"label": p.label, "points": p.points} for p in decision.priority.parts],
        }
    if not wanted:
        return 0
    result = await tx.session.execute(
        OFFER_INTERACTION, [{"b_offer": offer_id, **p} for offer_id, p in wanted.items()]
    )
    taken: Collection[str] = wanted
    # All took (the common case), or read which: PostgreSQL's driver reports no row count for an
    # executemany (-1); a single UPDATE's, and SQLite's sum over an executemany, are exact.
    if result.rowcount != len(wanted):  # type: ignore[attr-defined]
        ids = sorted(p["b_id"] for p in wanted.values())
        taken = set((await tx.session.execute(OFFERED_NOW, {"ids": ids})).scalars())
    offers = [
        {
            "id": offer_id,
            "interaction_id": p["b_id"],
            "agent_id": p["b_agent"],
            "offered_at": offered_at,
            "expires_at": expires,
            "outcome": "pending",
            "decided_at": None,
            "priority_explain": p["b_explain"],
        }
        for offer_id, p in wanted.items()
        if offer_id in taken
    ]
    if not offers:
        return 0
    await tx.session.execute(INSERT_OFFERS, offers)
    hub.metrics.offers.labels("made").inc(len(offers))
    for offer in offers:
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
# Which of the UPDATEs above took, when their row count does not say.
OFFERED_NOW = sa.select(_I.offer_id).where(_I.id.in_(sa.bindparam("ids", expanding=True)))
AGENTS_OFFERED = (
    sa.update(AGENTS)
    .where(AGENTS.c.id.in_(sa.bindparam("ids", expanding=True)), AGENTS.c.status == "available")
    .values(last_offered_at=sa.bindparam("now"))
    .returning(AGENTS.c.id)
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

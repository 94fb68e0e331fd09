"""Build the routing engine's frozen snapshot from the database (the engine itself does no I/O)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.models import Agent, Customer, Interaction, UTCDateTime
from hub.settings import Settings
from hub.tables import CUSTOMERS, QUEUES, core
from routing.engine import has_room
from routing.types import (
    AgentView,
    InteractionView,
    QueueView,
    RoutingConfig,
    RoutingSnapshot,
    TimeWindow,
    Weights,
)

WAITING_STATES = ("queued", "offered")


def epoch(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


def routing_config(settings: Settings) -> RoutingConfig:
    w = settings.routing.weights
    return RoutingConfig(
        weights=Weights(
            tier=dict(w.tier),
            value_per_1000=w.value_per_1000,
            value_cap=w.value_cap,
            wait_per_second=w.wait_per_second,
            sla_max=w.sla_max,
            sla_window_s=w.sla_window_s,
            channel=dict(w.channel),
        ),
        relationship_window_s=settings.routing.relationship_window_s,
    )


def queue_view(q: Any) -> QueueView:
    """`q`: a Queue, or a row of the queues table."""
    return QueueView(
        id=q.id,
        channels=frozenset(q.channels),
        required_skills=dict(q.required_skills),
        language=q.language,
        answer_target_s=q.answer_target_s,
        service_level_pct=q.service_level_pct,
        strategy=q.strategy,
        overflow_after_s=q.overflow_after_s,
        overflow_to=q.overflow_to,
        overflow_min_level=q.overflow_min_level,
        timezone=q.timezone,
        avg_handle_s=q.avg_handle_s,
        hours=tuple(
            TimeWindow(int(h["weekday"]), int(h["start_minute"]), int(h["end_minute"]))
            for h in q.hours
        ),
    )


_HOLDER = sa.case(
    (core(Interaction.state) == "offered", core(Interaction.offered_agent_id)),
    else_=core(Interaction.assigned_agent_id),
)
# Built once: building a statement cost about as much CPU as running it (docs/performance.md).
LOADS = (
    sa.select(_HOLDER, core(Interaction.channel), sa.func.count())
    .where(core(Interaction.state).in_(("offered", "assigned")))
    .group_by(_HOLDER, core(Interaction.channel))
)
# Calls closed since `since` still waiting for their agent's disposition. The index on
# (state, closed_at) keeps this to the last minutes' calls: on state alone it read every closed
# interaction ever, on every routing pass.
PENDING_WRAPUPS = (
    sa.select(core(Interaction.assigned_agent_id), sa.func.count())
    .where(
        core(Interaction.state) == "closed",
        core(Interaction.closed_at) >= sa.bindparam("since", type_=UTCDateTime),
        core(Interaction.channel) == "voice",
        core(Interaction.disposition) == "",
        core(Interaction.assigned_agent_id).is_not(None),
    )
    .group_by(core(Interaction.assigned_agent_id))
)


# Both in one statement (a pass read them one after the other): LOADS's rows, then a "voice"
# row per agent with calls still waiting for a disposition; agent_loads adds them up.
LOADS_AND_PENDING = sa.union_all(
    LOADS,
    PENDING_WRAPUPS.with_only_columns(
        core(Interaction.assigned_agent_id), sa.literal("voice"), sa.func.count()
    ),
)


async def agent_loads(
    session: AsyncSession, pending_since: datetime | None = None
) -> dict[str, dict[str, int]]:
    """Work each agent holds per channel: open offers plus assigned interactions, plus (with
    `pending_since`) calls closed since then that still wait for the agent's disposition, so
    wrap-up is required before the next call."""
    loads: dict[str, dict[str, int]] = defaultdict(dict)
    if pending_since is None:
        rows = await session.execute(LOADS)
    else:
        rows = await session.execute(LOADS_AND_PENDING, {"since": pending_since})
    for agent_id, channel, count in rows:
        if agent_id:
            loads[agent_id][channel] = loads[agent_id].get(channel, 0) + int(count)
    return loads


AGENT_COLUMNS = (
    core(Agent.id),
    core(Agent.queues),
    core(Agent.skills),
    core(Agent.languages),
    core(Agent.capacity),
    core(Agent.idle_since),
    core(Agent.wrapup_until),
    core(Agent.last_offered_at),
)

AVAILABLE_AGENTS = sa.select(*AGENT_COLUMNS).where(core(Agent.status) == "available")
ALL_QUEUES = sa.select(QUEUES)
# Columns, not ORM objects: the snapshot is rebuilt every routing pass and per queue position,
# and building two entities (with their JSON fields) per waiting row dominated.
WAITING = (
    sa.select(
        core(Interaction.id),
        core(Interaction.queue_id),
        core(Interaction.channel),
        core(Interaction.enqueued_at),
        core(Interaction.preferred_agent_id),
        core(Interaction.excluded_agent_ids),
        core(Interaction.excluded_until),
        core(Interaction.offered_agent_id),
        core(Interaction.state),
        core(Customer.tier),
        core(Customer.lifetime_value),
        core(Customer.language),
    )
    .join(CUSTOMERS, core(Customer.id) == core(Interaction.customer_id))
    .where(core(Interaction.state).in_(sa.bindparam("states", expanding=True)))
)


async def available_agents(
    session: AsyncSession, loads: dict[str, dict[str, int]]
) -> tuple[AgentView, ...]:
    """Columns, not ORM rows: every routing pass reads every available agent."""
    rows = (await session.execute(AVAILABLE_AGENTS)).all()
    return tuple(
        AgentView(
            id=aid,
            available=True,
            queues=frozenset(queues),
            skills=dict(skills),
            languages=frozenset(languages),
            capacity=dict(capacity),
            load=loads.get(aid, {}),
            idle_since=epoch(idle_since),
            wrapup_until=epoch(wrapup_until) if wrapup_until else None,
            last_offered_at=epoch(last_offered),
        )
        for aid, queues, skills, languages, capacity, idle_since, wrapup_until, last_offered in rows
    )


async def load_snapshot(
    session: AsyncSession,
    settings: Settings,
    now: datetime | None = None,
    states: tuple[str, ...] = WAITING_STATES,
    *,
    only_if_room: bool = False,
) -> RoutingSnapshot:
    """Everything the engine needs. A routing pass asks only for `queued` interactions: the
    engine skips offered ones (their agents' load is counted apart), and under a burst the
    offers still ringing outnumbered the queued ones; queue positions need both.

    With `only_if_room`, the waiting interactions are not read at all while no agent has room
    for any: in a storm every arrival kicks a pass, and each one read the whole queue only to
    offer nothing."""
    # The column queries below read the database, not the session: changes made in this
    # transaction (an expired offer's excluded agent) must be flushed first.
    await session.flush()
    config = routing_config(settings)
    block = settings.routing.pending_wrapup_block_s
    pending_since = now - timedelta(seconds=block) if now is not None and block > 0 else None
    loads = await agent_loads(session, pending_since)
    agents = await available_agents(session, loads)
    queues = {q.id: queue_view(q) for q in await session.execute(ALL_QUEUES)}
    if (
        only_if_room
        and now is not None
        and not any(has_room(a, config, now.timestamp()) for a in agents)
    ):
        return RoutingSnapshot(interactions=(), agents=agents, queues=queues, config=config)
    rows = (await session.execute(WAITING, {"states": list(states)})).all()
    interactions = tuple(
        InteractionView(
            id=iid,
            queue_id=queue_id,
            channel=channel,
            enqueued_at=epoch(enqueued_at),
            tier=tier,
            lifetime_value=value,
            language=language or None,
            preferred_agent_id=preferred,
            excluded_agent_ids=frozenset(excluded or ()),
            excluded_until=epoch(excluded_until),
            offered_to=offered if state == "offered" else None,
        )
        for (
            iid,
            queue_id,
            channel,
            enqueued_at,
            preferred,
            excluded,
            excluded_until,
            offered,
            state,
            tier,
            value,
            language,
        ) in rows
    )
    return RoutingSnapshot(interactions=interactions, agents=agents, queues=queues, config=config)

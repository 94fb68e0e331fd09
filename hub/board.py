"""The supervisor board: live figures per queue and per agent, computed server-side."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.models import Agent, Interaction, Queue
from hub.tables import core
from routing.erlang import agents_needed

WAITING = ("queued", "offered")


def day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


# The columns the board reads: rows with these attributes stand in for Interaction entities.
# The board is rebuilt every push tick from every interaction of the day; building ORM entities
# (with their JSON fields) for them took 7-15% of the event loop in B2 (docs/performance.md), and
# naming model attributes instead of table columns still took the ORM's loading path.
COLUMNS = (
    core(Interaction.id),
    core(Interaction.queue_id),
    core(Interaction.channel),
    core(Interaction.direction),
    core(Interaction.state),
    core(Interaction.enqueued_at),
    core(Interaction.assigned_at),
    core(Interaction.closed_at),
    core(Interaction.created_at),
    core(Interaction.assigned_agent_id),
    core(Interaction.priority),
    core(Interaction.priority_explain),
)


ASSIGNED = sa.select(
    core(Interaction.id), core(Interaction.channel), core(Interaction.assigned_agent_id)
).where(core(Interaction.state) == "assigned")


async def _rows(session: AsyncSession, where: Any) -> Sequence[Any]:
    return (await session.execute(sa.select(*COLUMNS).where(where))).all()


async def board(session: AsyncSession, now: datetime) -> dict[str, Any]:
    start = day_start(now)
    queues = (await session.exec(select(Queue).order_by(Queue.id))).all()
    today = await _rows(session, core(Interaction.created_at) >= start)
    waiting = await _rows(session, core(Interaction.state).in_(WAITING))
    agents = (await session.exec(select(Agent).order_by(Agent.username))).all()
    handled = Counter(i.assigned_agent_id for i in today if i.assigned_agent_id)
    # Each agent's work in one pass over the assigned rows: a scan of them per agent took 350 ms
    # with 2,000 chats and 100 agents (B2's floor), on every push tick.
    work: defaultdict[str | None, list[Any]] = defaultdict(list)
    for i in await session.execute(ASSIGNED):
        work[i.assigned_agent_id].append(i)
    return {
        "at": now.isoformat(),
        "queues": [_queue(q, today, waiting, agents, now) for q in queues],
        "agents": [_agent(a, handled[a.id], work[a.id], now) for a in agents],
        "hourly": _hourly(today, {q.id: q.answer_target_s for q in queues}, start, now),
        "waiting": [
            {
                "id": i.id,
                "queue_id": i.queue_id,
                "channel": i.channel,
                "state": i.state,
                "waited_s": round((now - i.enqueued_at).total_seconds()),
                "priority": round(i.priority, 1),
                "why": i.priority_explain,
            }
            for i in sorted(waiting, key=lambda i: i.enqueued_at)[:50]
        ],
    }


def _queue(
    q: Queue,
    today: Sequence[Any],
    waiting: Sequence[Any],
    agents: Sequence[Agent],
    now: datetime,
) -> dict[str, Any]:
    mine = [i for i in today if i.queue_id == q.id and i.direction == "in"]
    answered = [i for i in mine if i.assigned_at is not None]
    abandoned = [i for i in mine if i.state == "abandoned"]
    waits = [
        (i.assigned_at - i.enqueued_at).total_seconds()
        for i in answered
        if i.assigned_at is not None
    ]
    within = sum(w <= q.answer_target_s for w in waits)
    offered = len(answered) + len(abandoned)
    queued = [i for i in waiting if i.queue_id == q.id]
    recent = [i for i in mine if i.created_at >= now - timedelta(minutes=30)]
    rate = len(recent) / 1800
    available = sum(1 for a in agents if a.status == "available" and q.id in a.queues)
    return {
        "id": q.id,
        "name": q.name or q.id,
        "waiting": len(queued),
        "longest_wait_s": round(
            max(((now - i.enqueued_at).total_seconds() for i in queued), default=0.0), 1
        ),
        "service_level": round(within / offered, 3) if offered else None,
        "target": f"{q.service_level_pct:.0f}% in {q.answer_target_s:.0f} s",
        "asa_s": round(sum(waits) / len(waits), 1) if waits else None,
        "handled": len(answered),
        "abandoned": len(abandoned),
        "agents_available": available,
        "agents_needed": agents_needed(rate, q.avg_handle_s, q.answer_target_s, q.service_level_pct)
        if rate > 0
        else 0,
    }


def _agent(a: Agent, handled_today: int, work: Sequence[Any], now: datetime) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.display_name or a.username,
        "status": a.status,
        "reason": a.status_reason,
        "in_state_s": round((now - a.status_since).total_seconds()),
        "work": [{"id": i.id, "channel": i.channel} for i in work],
        "handled_today": handled_today,
    }


def _hourly(
    today: Sequence[Any], targets: dict[str, float], start: datetime, now: datetime
) -> list[dict[str, Any]]:
    """Arrivals, service level and queue depth (waiting at the end of each hour, up to now)."""
    arrivals: dict[int, int] = defaultdict(int)
    answered: dict[int, int] = defaultdict(int)
    within: dict[int, int] = defaultdict(int)
    for i in today:
        if i.direction != "in":
            continue
        hour = int((i.created_at - start).total_seconds() // 3600)
        arrivals[hour] += 1
        if i.assigned_at is not None:
            answered[hour] += 1
            wait = (i.assigned_at - i.enqueued_at).total_seconds()
            within[hour] += wait <= targets.get(i.queue_id, 20.0)
    spans = [
        (i.enqueued_at, i.assigned_at or i.closed_at)  # None: still waiting
        for i in today
        if i.direction == "in" and i.state != "ringing"
    ]
    depth: dict[int, int | None] = {}
    for h in range(24):
        at = min(start + timedelta(hours=h + 1), now)
        depth[h] = (
            sum(1 for began, ended in spans if began <= at and (ended is None or at < ended))
            if start + timedelta(hours=h) <= now
            else None
        )
    return [
        {
            "hour": h,
            "arrivals": arrivals[h],
            "service_level": round(within[h] / answered[h], 3) if answered[h] else None,
            "depth": depth[h],
        }
        for h in range(24)
    ]

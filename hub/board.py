"""The supervisor board: live figures per queue and per agent, computed server-side."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.board_traffic import TrafficTally
from hub.driver_sql import DriverRead
from hub.models import UTCDateTime
from hub.tables import AGENTS, INTERACTIONS, MESSAGES, QUEUES, SecondsBetween
from routing.erlang import agents_needed

WAITING = ("queued", "offered")
DEFAULT_TARGET_S = 20.0  # an interaction of a queue that no longer exists


def day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


# The board is built every push tick (2 s) while a supervisor watches. It read every interaction
# of the day and counted in Python: 29-37 ms with B2's 2,000 chats, growing with the day (a busy
# center's 20,000 contacts would stall the event loop ~0.3 s per tick). The database counts
# instead: one row per queue, one per hour, one for the hourly depths, one per agent, so the
# board's Python work no longer grows with the day's traffic.
_I = INTERACTIONS.c
_Q = QUEUES.c
_TARGET = sa.func.coalesce(_Q.answer_target_s, DEFAULT_TARGET_S)
_ANSWERED = _I.assigned_at.is_not(None)
_WAIT = SecondsBetween(_I.assigned_at, _I.enqueued_at)
# To the millisecond: SQLite's date functions read no finer (julianday's double adds ~0.05 ms).
_WITHIN = sa.and_(_ANSWERED, sa.func.round(_WAIT * 1000) <= sa.func.round(_TARGET * 1000))
_TODAY_IN = sa.and_(_I.created_at >= sa.bindparam("start", type_=UTCDateTime), _I.direction == "in")


def _count(condition: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


QUEUE_DAY = (
    sa.select(
        _I.queue_id,
        _count(_ANSWERED).label("answered"),
        _count(_I.state == "abandoned").label("abandoned"),
        _count(_WITHIN).label("within"),
        sa.func.sum(sa.case((_ANSWERED, _WAIT))).label("wait_sum"),
        _count(_I.created_at >= sa.bindparam("recent", type_=UTCDateTime)).label("recent"),
    )
    .select_from(INTERACTIONS.outerjoin(QUEUES, _Q.id == _I.queue_id))
    .where(_TODAY_IN)
    .group_by(_I.queue_id)
)
HOUR_ENDS = [sa.bindparam(f"end{h}", type_=UTCDateTime) for h in range(24)]
_HOUR = sa.case(*((_I.created_at < end, h) for h, end in enumerate(HOUR_ENDS)), else_=24)
HOURS = (
    sa.select(
        _HOUR.label("hour"),
        sa.func.count().label("arrivals"),
        _count(_ANSWERED).label("answered"),
        _count(_WITHIN).label("within"),
    )
    .select_from(INTERACTIONS.outerjoin(QUEUES, _Q.id == _I.queue_id))
    .where(_TODAY_IN)
    .group_by(_HOUR)
)
# Queue depth at each hour's end (or now): waiting then = enqueued by then, not yet answered
# (or ended) by then. Call-back tasks and PBX calls still ringing are not queue depth.
_ENDED = sa.func.coalesce(_I.assigned_at, _I.closed_at)
AT = [sa.bindparam(f"at{h}", type_=UTCDateTime) for h in range(24)]
DEPTHS = sa.select(
    *(_count(sa.and_(_I.enqueued_at <= at, sa.or_(_ENDED.is_(None), at < _ENDED))) for at in AT)
).where(_TODAY_IN, _I.state != "ringing")
WAITING_BY_QUEUE = (
    sa.select(_I.queue_id, sa.func.count(), sa.func.min(_I.enqueued_at))
    .where(_I.state.in_(WAITING))
    .group_by(_I.queue_id)
)
LONGEST_WAITING = (
    sa.select(
        _I.id,
        _I.queue_id,
        _I.channel,
        _I.state,
        _I.enqueued_at,
        _I.priority,
        _I.priority_explain,
    )
    .where(_I.state.in_(WAITING))
    .order_by(_I.enqueued_at, _I.id)
    .limit(50)
)
# Grouped by an expression, not the column: by the column (or filtering out the unassigned),
# SQLite walked the assigned_agent_id index, every assigned row ever stored, to skip a sort.
_HOLDER = sa.func.coalesce(_I.assigned_agent_id, "")
HANDLED = (
    sa.select(_HOLDER, sa.func.count())
    .where(_I.created_at >= sa.bindparam("start", type_=UTCDateTime))
    .group_by(_HOLDER)
)
ASSIGNED = sa.select(_I.id, _I.channel, _I.assigned_agent_id).where(_I.state == "assigned")
ASSIGNED_READ = DriverRead(ASSIGNED)  # strings only, 2,000 rows on B2's floor: on the driver
_M = MESSAGES.c
# Conversations whose customer is waiting for the agent's reply: an inbound message with no
# reply at or after it (a reply that failed to go out is none, nor is an internal note; a live
# call has no reply to wait for). Per agent: how many, and since when the oldest unanswered
# message waits. Asked per inbound line with one seek of the (interaction_id, direction,
# created_at) index: a window over every message for each conversation's last reply took 2-3 x
# as long on SQLite, where the board runs on the hub's own thread (B2's floor).
_R = MESSAGES.alias("reply")
_ANSWERED_LATER = sa.exists().where(
    _R.c.interaction_id == _M.interaction_id,
    _R.c.direction == "out",
    _R.c.status != "failed",
    _R.c.created_at >= _M.created_at,
)
_LIVE_CONVERSATION = (_I.state == "assigned", _I.channel != "voice")


def _per_agent(unanswered: Any) -> Any:
    """Per agent, from (agent_id, since) per conversation: how many wait, and the oldest."""
    return (
        sa.select(
            unanswered.c.agent_id,
            sa.func.count().label("conversations"),
            sa.func.min(unanswered.c.since).label("oldest"),
        )
        .where(unanswered.c.since.is_not(None))
        .group_by(unanswered.c.agent_id)
    )


AWAITING_REPLY = _per_agent(
    sa.select(_I.assigned_agent_id.label("agent_id"), sa.func.min(_M.created_at).label("since"))
    .select_from(MESSAGES.join(INTERACTIONS, _I.id == _M.interaction_id))
    .where(*_LIVE_CONVERSATION, _M.direction == "in", ~_ANSWERED_LATER)
    .group_by(_I.assigned_agent_id, _M.interaction_id)
    .subquery()
)
# PostgreSQL plans the join above as a scan of every message ever stored, hashed against the
# live conversations (its estimates cannot tell that the live ones hold few of them): 46 ms with
# 200,000 messages of history on B2's floor, growing with the history. A LATERAL subquery per live
# conversation keeps to the index: 19 ms, the same 13 ms without the history. SQLite has no
# LATERAL and already starts from the live conversations.
_FIRST_UNANSWERED = (
    sa.select(sa.func.min(_M.created_at).label("since"))
    .where(_M.interaction_id == _I.id, _M.direction == "in", ~_ANSWERED_LATER)
    .lateral("first_unanswered")
)
AWAITING_REPLY_PG = _per_agent(
    sa.select(_I.assigned_agent_id.label("agent_id"), _FIRST_UNANSWERED.c.since)
    .select_from(INTERACTIONS.join(_FIRST_UNANSWERED, sa.true()))
    .where(*_LIVE_CONVERSATION)
    .subquery()
)
_A = AGENTS.c
AGENT_ROWS = sa.select(
    _A.id, _A.username, _A.display_name, _A.status, _A.status_reason, _A.status_since, _A.queues
).order_by(_A.username)
QUEUE_ROWS = sa.select(
    _Q.id, _Q.name, _Q.answer_target_s, _Q.service_level_pct, _Q.avg_handle_s
).order_by(_Q.id)


async def board(
    session: AsyncSession, now: datetime, traffic: TrafficTally | None = None
) -> dict[str, Any]:
    """`traffic`: the pushing process's tally (hub/board_traffic.py); None counts the day."""
    start = day_start(now)
    day = {"start": start, "recent": now - timedelta(minutes=30)}
    queues = (await session.execute(QUEUE_ROWS)).all()
    agents = (await session.execute(AGENT_ROWS)).all()
    per_queue = {r.queue_id: r for r in await session.execute(QUEUE_DAY, day)}
    waiting = {q: (n, oldest) for q, n, oldest in await session.execute(WAITING_BY_QUEUE)}
    hours = {r.hour: r for r in await session.execute(HOURS, day | _hour_ends(start))}
    depths = (await session.execute(DEPTHS, day | _depth_times(start, now))).one()
    handled = dict((await session.execute(HANDLED, day)).all())
    # Each agent's work in one pass over the assigned rows: a scan of them per agent took 350 ms
    # with 2,000 chats and 100 agents (B2's floor), on every push tick.
    work: defaultdict[str | None, list[dict[str, str]]] = defaultdict(list)
    for id_, channel, agent_id in await ASSIGNED_READ.all(session, {}):
        work[agent_id].append({"id": id_, "channel": channel})
    postgres = session.get_bind().dialect.name == "postgresql"
    awaiting_reply = AWAITING_REPLY_PG if postgres else AWAITING_REPLY
    awaiting = {r.agent_id: r for r in await session.execute(awaiting_reply)}
    return {
        "at": now.isoformat(),
        "queues": [
            _queue(q, per_queue.get(q.id), waiting.get(q.id, (0, None)), agents, now)
            for q in queues
        ],
        "agents": [
            _agent(a, handled.get(a.id, 0), work[a.id], awaiting.get(a.id), now) for a in agents
        ],
        "traffic": await (traffic or TrafficTally()).read(session, start, now),
        "hourly": _hourly(hours, depths, start, now),
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
            for i in await session.execute(LONGEST_WAITING)
        ],
    }


def _hour_ends(start: datetime) -> dict[str, datetime]:
    return {f"end{h}": start + timedelta(hours=h + 1) for h in range(24)}


def _depth_times(start: datetime, now: datetime) -> dict[str, datetime]:
    return {f"at{h}": min(start + timedelta(hours=h + 1), now) for h in range(24)}


def _queue(
    q: Any, day: Any, waiting: tuple[int, datetime | None], agents: Sequence[Any], now: datetime
) -> dict[str, Any]:
    """`q`: a QUEUE_ROWS row; `day`: its QUEUE_DAY row (None: nothing today)."""
    answered = day.answered if day else 0
    abandoned = day.abandoned if day else 0
    offered = answered + abandoned
    queued, oldest = waiting
    rate = (day.recent if day else 0) / 1800
    available = sum(1 for a in agents if a.status == "available" and q.id in a.queues)
    return {
        "id": q.id,
        "name": q.name or q.id,
        "waiting": queued,
        "longest_wait_s": round(max((now - oldest).total_seconds(), 0.0), 1) if oldest else 0.0,
        "service_level": round(day.within / offered, 3) if offered else None,
        "target": f"{q.service_level_pct:.0f}% in {q.answer_target_s:.0f} s",
        "asa_s": round(float(day.wait_sum) / answered, 1) if answered else None,
        "handled": answered,
        "abandoned": abandoned,
        "agents_available": available,
        "agents_needed": agents_needed(rate, q.avg_handle_s, q.answer_target_s, q.service_level_pct)
        if rate > 0
        else 0,
    }


def _agent(
    a: Any, handled_today: int, work: Sequence[Any], awaiting: Any, now: datetime
) -> dict[str, Any]:
    """`awaiting`: its AWAITING_REPLY row (None: no customer waits for this agent's reply)."""
    return {
        "id": a.id,
        "name": a.display_name or a.username,
        "status": a.status,
        "reason": a.status_reason,
        "in_state_s": round((now - a.status_since).total_seconds()),
        "work": work,
        "handled_today": handled_today,
        "awaiting_reply": awaiting.conversations if awaiting else 0,
        "unanswered_s": round(max((now - awaiting.oldest).total_seconds(), 0.0))
        if awaiting
        else None,
    }


def _hourly(
    hours: dict[int, Any], depths: Sequence[int], start: datetime, now: datetime
) -> list[dict[str, Any]]:
    """Arrivals, service level and queue depth (waiting at the end of each hour, up to now)."""
    series = []
    for h in range(24):
        row = hours.get(h)
        answered = row.answered if row else 0
        series.append(
            {
                "hour": h,
                "arrivals": row.arrivals if row else 0,
                "service_level": round(row.within / answered, 3) if row and answered else None,
                "depth": depths[h] if start + timedelta(hours=h) <= now else None,
            }
        )
    return series

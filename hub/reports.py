"""Historical figures per day, queue or agent: what the report page and its CSV export show.

Times are UTC days. Service level counts inbound interactions answered within their queue's
target against answered + abandoned (the board's definition), ASA is the mean wait of answered
ones, AHT the mean time from answer to close, CSAT the mean of web-chat ratings.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.errors import Invalid
from hub.models import Agent, Interaction, Offer, Queue

GROUPS = ("day", "queue", "agent")
MAX_DAYS = 366
COLUMNS = (
    "key",
    "label",
    "offered",
    "handled",
    "abandoned",
    "service_level",
    "asa_s",
    "aht_s",
    "csat_avg",
    "csat_count",
)


@dataclass
class _Acc:
    offered: int = 0
    handled: int = 0
    abandoned: int = 0
    within: int = 0
    waits: list[float] = field(default_factory=list)
    handles: list[float] = field(default_factory=list)
    ratings: list[int] = field(default_factory=list)

    def row(self, key: str, label: str) -> dict[str, Any]:
        counted = self.handled_inbound + self.abandoned
        return {
            "key": key,
            "label": label,
            "offered": self.offered,
            "handled": self.handled,
            "abandoned": self.abandoned,
            "service_level": round(self.within / counted, 3) if counted else None,
            "asa_s": _mean(self.waits),
            "aht_s": _mean(self.handles),
            "csat_avg": _mean([float(r) for r in self.ratings], 2),
            "csat_count": len(self.ratings),
        }

    @property
    def handled_inbound(self) -> int:
        return len(self.waits)


def _mean(values: list[float], digits: int = 1) -> float | None:
    return round(sum(values) / len(values), digits) if values else None


def parse_range(start: str | None, end: str | None, today: date) -> tuple[date, date]:
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else last - timedelta(days=6)
    except ValueError:
        raise Invalid("from and to are dates like 2026-11-23") from None
    if first > last:
        raise Invalid("from must not be after to")
    if (last - first).days >= MAX_DAYS:
        raise Invalid(f"at most {MAX_DAYS} days per report")
    return first, last


def _utc(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=UTC)


async def report(session: AsyncSession, first: date, last: date, by: str) -> list[dict[str, Any]]:
    if by not in GROUPS:
        raise Invalid(f"by is one of {', '.join(GROUPS)}")
    start, stop = _utc(first), _utc(last + timedelta(days=1))
    queues = {q.id: q for q in (await session.exec(select(Queue))).all()}
    agents = {a.id: a for a in (await session.exec(select(Agent))).all()}
    rows = (
        await session.exec(
            select(Interaction).where(
                col(Interaction.created_at) >= start, col(Interaction.created_at) < stop
            )
        )
    ).all()
    acc: dict[str, _Acc] = defaultdict(_Acc)
    for it in rows:
        key = _key(it, by)
        if key is None:
            continue
        a = acc[key]
        inbound = it.direction == "in"
        if inbound and by != "agent":
            a.offered += 1
        if it.assigned_at is not None:
            a.handled += 1
            if inbound:
                wait = (it.assigned_at - it.enqueued_at).total_seconds()
                a.waits.append(max(wait, 0.0))
                queue = queues.get(it.queue_id)
                a.within += wait <= (queue.answer_target_s if queue else 20.0)
            if it.closed_at is not None:
                a.handles.append(max((it.closed_at - it.assigned_at).total_seconds(), 0.0))
        if it.state == "abandoned" and by != "agent":
            a.abandoned += 1
        rating = it.meta.get("csat")
        if isinstance(rating, int) and 1 <= rating <= 5:
            a.ratings.append(rating)
    if by == "agent":
        offers = (
            await session.exec(
                select(Offer.agent_id).where(
                    col(Offer.offered_at) >= start, col(Offer.offered_at) < stop
                )
            )
        ).all()
        for agent_id in offers:
            acc[agent_id].offered += 1
    out = []
    for key in sorted(acc):
        label = key
        if by == "queue" and key in queues:
            label = queues[key].name or key
        elif by == "agent" and key in agents:
            label = agents[key].display_name or agents[key].username
        out.append(acc[key].row(key, label))
    return out


def _key(it: Interaction, by: str) -> str | None:
    if by == "day":
        return it.created_at.astimezone(UTC).date().isoformat()
    if by == "queue":
        return it.queue_id
    return it.assigned_agent_id

"""Can anyone answer this queue right now (open hours and an available agent serving it)?"""

from __future__ import annotations

from sqlmodel import select

from hub.context import Hub
from hub.models import Agent, Queue
from hub.routing_snapshot import queue_view
from routing.hours import is_open


async def someone_can_answer(hub: Hub, queue_id: str) -> bool:
    """Open and staffed: at least one available agent serves the queue."""
    async with hub.store.session() as session:
        queue = await session.get(Queue, queue_id)
        if queue is None or not is_open(queue_view(queue), hub.now().timestamp()):
            return False
        # Only the column: one chat message used to build an ORM object per available agent.
        served = (await session.exec(select(Agent.queues).where(Agent.status == "available"))).all()
    return any(queue_id in queues for queues in served)


async def mark_if_unanswered(hub: Hub, meta: dict[str, object], queue_id: str) -> None:
    """A chat that starts while nobody can answer is taken as a message (`offline`): the reply
    goes by email or SMS to the address the visitor gave (send_reply.reply_route). Decided once,
    when the conversation starts; asking on every message cost two queries per chat line."""
    if "offline" not in meta and not await someone_can_answer(hub, queue_id):
        meta["offline"] = True

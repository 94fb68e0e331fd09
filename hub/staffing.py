"""Can anyone answer this queue right now (open hours and an available agent serving it)?"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from hub.context import Hub
from hub.models import Agent, Queue
from hub.routing_snapshot import queue_view
from hub.tables import AGENTS, QUEUES, core
from routing.hours import is_open

_AVAILABLE = core(Agent.status) == "available"
_QUEUE_ID: sa.BindParameter[str] = sa.bindparam("queue_id")
# Whether an available agent lists the queue, asked of the database: reading every available
# agent's queue list to look for it in Python cost 1.1 ms per new chat with 100 agents on
# SQLite (a JSON decode per agent), at B2's hundreds of new chats a second.
_LISTED = sa.func.json_each(core(Agent.queues)).table_valued("value")
_SERVED_SQLITE = (
    sa.exists()
    .select_from(AGENTS.join(_LISTED, sa.true()))
    .where(_AVAILABLE, _LISTED.c.value == core(Queue.id))
)
_SERVED_PG = sa.exists().where(
    _AVAILABLE,
    sa.cast(core(Agent.queues), JSONB).contains(sa.func.jsonb_build_array(core(Queue.id))),
)


def _staffed(served: sa.Exists) -> sa.Select[tuple[object, ...]]:
    return sa.select(QUEUES, served.label("served")).where(core(Queue.id) == _QUEUE_ID)


STAFFED_SQLITE = _staffed(_SERVED_SQLITE)
STAFFED_PG = _staffed(_SERVED_PG)


async def someone_can_answer(hub: Hub, queue_id: str) -> bool:
    """Open and staffed: at least one available agent serves the queue. One statement."""
    async with hub.store.session() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        statement = STAFFED_PG if postgres else STAFFED_SQLITE
        row = (await session.execute(statement, {"queue_id": queue_id})).first()
    if row is None or not row.served:
        return False
    return is_open(queue_view(row), hub.now().timestamp())


async def mark_if_unanswered(hub: Hub, meta: dict[str, object], queue_id: str) -> None:
    """A chat that starts while nobody can answer is taken as a message (`offline`): the reply
    goes by email or SMS to the address the visitor gave (send_reply.reply_route). Decided once,
    when the conversation starts; asking on every message cost two queries per chat line."""
    if "offline" not in meta and not await someone_can_answer(hub, queue_id):
        meta["offline"] = True

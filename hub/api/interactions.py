"""GET /api/interactions/{id}: one conversation in full, for the console's timeline and tabs.

An agent opens only what is theirs (offered to or assigned to them) or a finished interaction of
one of their queues (customer history); never another agent's live conversation. Supervisors and
admins open any.
"""

from __future__ import annotations

from aiohttp import web
from sqlmodel import col, select

from agent_console.presenter import interaction_dict, message_dict
from hub.api.common import current_agent, hub_of
from hub.errors import Forbidden, NotFound
from hub.models import Agent, Interaction, Message

FINISHED = ("closed", "abandoned")
MAX_MESSAGES = 500


def may_open(agent: Agent, it: Interaction) -> bool:
    if agent.role in ("supervisor", "admin"):
        return True
    if it.assigned_agent_id == agent.id:
        return True
    if it.state == "offered" and it.offered_agent_id == agent.id:
        return True
    return it.state in FINISHED and it.queue_id in agent.queues


async def get_interaction(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    async with hub_of(request).store.session() as session:
        it = await session.get(Interaction, request.match_info["interaction_id"])
        if it is None:
            raise NotFound("no such interaction")
        if not may_open(agent, it):
            raise Forbidden("this interaction belongs to another agent")
        rows = (
            await session.exec(
                select(Message)
                .where(Message.interaction_id == it.id)
                .order_by(col(Message.created_at))
                .limit(MAX_MESSAGES)
            )
        ).all()
    return web.json_response(
        {"interaction": interaction_dict(it), "messages": [message_dict(m) for m in rows]}
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/interactions/{interaction_id}", get_interaction)

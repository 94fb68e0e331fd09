"""GET /api/interactions/{id}: one conversation in full, for the console's timeline and tabs.

An agent opens only what is theirs (offered to or assigned to them) or a finished interaction of
one of their queues (customer history); never another agent's live conversation. Supervisors and
admins open any.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web
from sqlmodel import col, select

from agent_console.presenter import attachments_of, interaction_dict, message_dict
from hub.api.common import current_agent, hub_of
from hub.errors import Forbidden, NotFound
from hub.models import Agent, Interaction, Message, StoredAttachment

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
        files = await attachments_of(session, [m.id for m in rows])
    return web.json_response(
        {
            "interaction": interaction_dict(it),
            "messages": [message_dict(m, files.get(m.id)) for m in rows],
        }
    )


# Served as themselves only when a browser cannot run them; everything else is a download.
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


async def get_attachment(request: web.Request) -> web.Response:
    """A file from a message, for whoever may open its interaction; never by guessing ids."""
    agent = await current_agent(request)
    async with hub_of(request).store.session() as session:
        found = await session.get(StoredAttachment, request.match_info["attachment_id"])
        message = await session.get(Message, found.message_id) if found else None
        it = await session.get(Interaction, message.interaction_id) if message else None
    if found is None or it is None:
        raise NotFound("no such attachment")
    if not may_open(agent, it):
        raise Forbidden("this attachment belongs to another agent's conversation")
    if found.data is None:
        raise NotFound("this attachment was too large to keep")
    inline = found.content_type in INLINE_TYPES
    name = quote(found.filename or "attachment", safe="")
    disposition = f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{name}"
    return web.Response(
        body=found.data,
        headers={
            "Content-Type": found.content_type if inline else "application/octet-stream",
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/interactions/{interaction_id}", get_interaction)
    app.router.add_get("/api/attachments/{attachment_id}", get_attachment)

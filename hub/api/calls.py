"""GET /api/calls: the call log (voice interactions) per customer or per agent."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel import col, select

from hub.api.common import current_agent, hub_of
from hub.models import Interaction


def call_row(it: Interaction) -> dict[str, Any]:
    meta = it.meta
    return {
        "id": it.id,
        "customer_id": it.customer_id,
        "agent_id": it.assigned_agent_id,
        "direction": it.direction,
        "state": it.state,
        "number": it.customer_address,
        "source": meta.get("source", ""),
        "started_at": it.created_at.isoformat(),
        "answered_at": meta.get("answered_at")
        or (it.assigned_at.isoformat() if it.assigned_at else None),
        "ended_at": meta.get("ended_at"),
        "wait_s": meta.get("wait_s"),
        "talk_s": meta.get("talk_s"),
        "missed": it.state == "abandoned",
        "cause": meta.get("cause", ""),
        "disposition": it.disposition,
    }


async def calls(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    query = select(Interaction).where(Interaction.channel == "voice")
    if customer_id := request.query.get("customer_id"):
        query = query.where(Interaction.customer_id == customer_id)
    agent_id = request.query.get("agent_id")
    if agent.role == "agent":
        agent_id = agent.id  # agents see their own calls; supervisors anyone's
    if agent_id:
        query = query.where(Interaction.assigned_agent_id == agent_id)
    async with hub_of(request).store.session() as session:
        rows = (
            await session.exec(query.order_by(col(Interaction.created_at).desc()).limit(200))
        ).all()
    return web.json_response({"calls": [call_row(it) for it in rows]})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/calls", calls)

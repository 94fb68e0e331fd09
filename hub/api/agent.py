"""GET /api/agent/state: the console snapshot a reconnecting console re-syncs from."""

from __future__ import annotations

from aiohttp import web

from agent_console.presenter import agent_state
from hub.api.common import current_agent, hub_of


async def state(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    async with hub_of(request).store.session() as session:
        return web.json_response(await agent_state(session, agent, hub_of(request).settings))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/agent/state", state)

"""POST /api/auth/login and /api/auth/logout."""

from __future__ import annotations

from aiohttp import web

from hub.actions.log_in import log_in
from hub.api.common import bearer, client_address, hub_of, json_body
from hub.auth import revoke_token


async def login(request: web.Request) -> web.Response:
    data = await json_body(request)
    result = await log_in(
        hub_of(request),
        data.get("username"),
        data.get("password"),
        client=client_address(request),
    )
    return web.json_response(
        {
            "token": result.token,
            "role": result.role,
            "agent_id": result.agent_id,
            "display_name": result.display_name,
        }
    )


async def logout(request: web.Request) -> web.Response:
    token = bearer(request)
    if token:
        await revoke_token(hub_of(request), token)
    return web.json_response({"ok": True})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/auth/login", login)
    app.router.add_post("/api/auth/logout", logout)

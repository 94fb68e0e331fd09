"""/api/agents: list agents with status and load; create (admin) and update (admin, supervisor)."""

from __future__ import annotations

from typing import Any, Self

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import select

from agent_console.presenter import iso
from hub.actions.create_agent import create_agent
from hub.actions.set_agent_status import set_agent_status
from hub.api.common import current_agent, hub_of
from hub.api.validation import parse
from hub.auth import revoke_all_tokens
from hub.errors import Forbidden, Invalid, NotFound
from hub.events import AgentStatusChanged
from hub.models import Agent, AuditLog
from hub.routing_snapshot import agent_loads
from routing.types import CHANNELS


class AgentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(default=None, max_length=200)
    role: str | None = None
    queues: list[str] | None = Field(default=None, max_length=50)
    skills: dict[str, int] | None = None
    languages: list[str] | None = Field(default=None, max_length=20)
    capacity: dict[str, int] | None = None
    phone: str | None = Field(default=None, max_length=32)
    client_identity: str | None = Field(default=None, max_length=100)
    status: str | None = None

    def checked(self) -> Self:
        if self.skills and any(not 0 <= v <= 10 for v in self.skills.values()):
            raise Invalid("skill levels are 0 to 10")
        if self.capacity and (
            not set(self.capacity) <= set(CHANNELS)
            or any(not 0 <= v <= 50 for v in self.capacity.values())
        ):
            raise Invalid(f"capacity is per channel ({', '.join(CHANNELS)}), 0 to 50")
        return self


class AgentCreate(AgentUpdate):
    username: str = Field(max_length=64)
    password: str = Field(min_length=8, max_length=1024)


def agent_out(agent: Agent, load: dict[str, int]) -> dict[str, Any]:
    return {
        "id": agent.id,
        "username": agent.username,
        "display_name": agent.display_name,
        "role": agent.role,
        "status": agent.status,
        "status_reason": agent.status_reason,
        "status_since": iso(agent.status_since),
        "queues": agent.queues,
        "skills": agent.skills,
        "languages": agent.languages,
        "capacity": agent.capacity,
        "load": load,
        "wrapup_until": iso(agent.wrapup_until),
        "missed_offers": agent.missed_offers,
    }


async def list_agents(request: web.Request) -> web.Response:
    caller = await current_agent(request)
    hub = hub_of(request)
    async with hub.store.session() as session:
        agents = (await session.exec(select(Agent).order_by(Agent.username))).all()
        if caller.role == "agent":
            # Colleagues to transfer to: who and whether they are there, nothing more.
            return web.json_response({"agents": [colleague(a) for a in agents]})
        loads = await agent_loads(session)
    return web.json_response({"agents": [agent_out(a, loads.get(a.id, {})) for a in agents]})


def colleague(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "display_name": agent.display_name or agent.username,
        "status": agent.status,
        "queues": agent.queues,
    }


async def create(request: web.Request) -> web.Response:
    caller = await current_agent(request, "admin")
    body = (await parse(request, AgentCreate)).checked()
    hub = hub_of(request)
    agent = await create_agent(
        hub,
        body.username,
        body.password,
        role=body.role or "agent",
        display_name=body.display_name or "",
        queues=body.queues,
        skills=body.skills,
    )
    if body.languages or body.capacity:
        agent = await _apply(
            request, agent.id, AgentUpdate(languages=body.languages, capacity=body.capacity)
        )
    await audit(request, caller.username, "agent.create", agent.id, {"role": agent.role})
    return web.json_response(agent_out(agent, {}), status=201)


async def update(request: web.Request) -> web.Response:
    caller = await current_agent(request, "admin", "supervisor")
    body = (await parse(request, AgentUpdate)).checked()
    if body.role is not None and caller.role != "admin":
        raise Forbidden("only an admin changes roles")
    agent_id = request.match_info["agent_id"]
    async with hub_of(request).store.session() as session:
        target = await session.get(Agent, agent_id)
    if target is None:
        raise NotFound("no such agent")
    if caller.role != "admin" and target.role != "agent" and target.id != caller.id:
        raise Forbidden("a supervisor manages agents; other supervisors and admins need an admin")
    changes = body.model_dump(exclude_unset=True)
    await audit(request, caller.username, "agent.update", agent_id, changes)
    if body.status is not None:
        await set_agent_status(hub_of(request), agent_id, body.status, f"set by {caller.username}")
    agent = await _apply(request, agent_id, body)
    async with hub_of(request).store.session() as session:
        loads = await agent_loads(session)
    return web.json_response(agent_out(agent, loads.get(agent.id, {})))


async def _apply(request: web.Request, agent_id: str, body: AgentUpdate) -> Agent:
    from hub.auth import ROLES

    if body.role is not None and body.role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    async with hub_of(request).transaction() as tx:
        agent = await tx.session.get(Agent, agent_id)
        if agent is None:
            raise NotFound("no such agent")
        for name, value in body.model_dump(exclude_unset=True, exclude={"status"}).items():
            if value is not None:
                setattr(agent, name, value)
        tx.session.add(agent)
        # Skills, queues or capacity may make waiting work routable: tell routing.
        tx.emit(AgentStatusChanged(agent_id=agent.id, status=agent.status, reason="updated"))
    return agent


async def revoke_tokens(request: web.Request) -> web.Response:
    caller = await current_agent(request, "admin")
    agent_id = request.match_info["agent_id"]
    async with hub_of(request).store.session() as session:
        if await session.get(Agent, agent_id) is None:
            raise NotFound("no such agent")
    count = await revoke_all_tokens(hub_of(request), agent_id, caller.username)
    return web.json_response({"revoked": count})


async def audit(
    request: web.Request, actor: str, action: str, target: str, detail: dict[str, Any]
) -> None:
    async with hub_of(request).store.transaction() as session:
        session.add(AuditLog(actor=actor, action=action, target=target, detail=detail))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/agents", list_agents)
    app.router.add_post("/api/agents/{agent_id}/revoke-tokens", revoke_tokens)
    app.router.add_post("/api/agents", create)
    app.router.add_patch("/api/agents/{agent_id}", update)

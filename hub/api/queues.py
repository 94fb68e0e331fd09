"""/api/queues: list with live figures; create and update queues managed through the API."""

from __future__ import annotations

from typing import Any, Self

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import select

from hub.api.common import current_agent, hub_of
from hub.api.validation import parse
from hub.errors import Conflict, Invalid, NotFound
from hub.models import AuditLog, Queue
from hub.routing_snapshot import load_snapshot
from routing.engine import rank
from routing.hours import is_open
from routing.types import CHANNELS, STRATEGIES

MANAGERS = ("admin", "supervisor")


class HoursIn(BaseModel):
    weekday: int = Field(ge=0, le=6)
    start_minute: int = Field(ge=0, le=1440)
    end_minute: int = Field(ge=0, le=1440)


class QueueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="", max_length=200)
    channels: list[str] = Field(default_factory=lambda: list(CHANNELS))
    required_skills: dict[str, int] = Field(default_factory=dict)
    language: str | None = Field(default=None, max_length=16)
    answer_target_s: float = Field(default=20.0, gt=0, le=86_400)
    service_level_pct: float = Field(default=80.0, gt=0, le=100)
    strategy: str = "longest_idle"
    overflow_after_s: float | None = Field(default=None, ge=0)
    overflow_to: str | None = Field(default=None, max_length=64)
    overflow_min_level: int | None = Field(default=None, ge=0, le=10)
    timezone: str = Field(default="UTC", max_length=64)
    hours: list[HoursIn] = Field(default_factory=list, max_length=50)
    avg_handle_s: float = Field(default=180.0, gt=0)

    def checked(self) -> Self:
        if not set(self.channels) <= set(CHANNELS):
            raise Invalid(f"channels must be among {', '.join(CHANNELS)}")
        if self.strategy not in STRATEGIES:
            raise Invalid(f"strategy must be one of {', '.join(STRATEGIES)}")
        return self


class QueueCreate(QueueIn):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")


def queue_dict(q: Queue) -> dict[str, Any]:
    return q.model_dump(mode="json")


async def list_queues(request: web.Request) -> web.Response:
    await current_agent(request)
    hub = hub_of(request)
    now = hub.now().timestamp()
    async with hub.store.session() as session:
        queues = (await session.exec(select(Queue).order_by(Queue.id))).all()
        snapshot = await load_snapshot(session, hub.settings)
    ranked = rank(snapshot, now)
    out = []
    for q in queues:
        waiting = [r for r in ranked if r.queue_id == q.id]
        offered = [i for i in snapshot.interactions if i.queue_id == q.id and i.offered_to]
        oldest = min(
            (i.enqueued_at for i in snapshot.interactions if i.queue_id == q.id), default=None
        )
        staffed = sum(1 for a in snapshot.agents if q.id in a.queues)
        out.append(
            {
                **queue_dict(q),
                "open": is_open(snapshot.queues[q.id], now) if q.id in snapshot.queues else True,
                "waiting": len(waiting),
                "offered": len(offered),
                "longest_wait_s": round(now - oldest, 1) if oldest is not None else 0.0,
                "agents_available": staffed,
                "next_estimated_wait_s": waiting[0].estimated_wait_s if waiting else None,
            }
        )
    return web.json_response({"queues": out})


async def create_queue(request: web.Request) -> web.Response:
    caller = await current_agent(request, *MANAGERS)
    body = (await parse(request, QueueCreate)).checked()
    hub = hub_of(request)
    async with hub.store.transaction() as session:
        if await session.get(Queue, body.id) is not None:
            raise Conflict(f"queue {body.id!r} exists")
        queue = Queue(
            **body.model_dump(exclude={"hours"}),
            managed_by="api",
            hours=[h.model_dump() for h in body.hours],
        )
        session.add(queue)
        session.add(AuditLog(actor=caller.username, action="queue.create", target=body.id))
    return web.json_response(queue_dict(queue), status=201)


async def update_queue(request: web.Request) -> web.Response:
    caller = await current_agent(request, *MANAGERS)
    body = (await parse(request, QueueIn)).checked()
    hub = hub_of(request)
    async with hub.store.transaction() as session:
        queue = await session.get(Queue, request.match_info["queue_id"])
        if queue is None:
            raise NotFound("no such queue")
        if queue.managed_by == "config":
            raise Conflict("this queue is defined in the configuration file; change it there")
        changes = body.model_dump(exclude_unset=True)
        for name, value in changes.items():
            setattr(queue, name, value)
        session.add(queue)
        session.add(
            AuditLog(actor=caller.username, action="queue.update", target=queue.id, detail=changes)
        )
    return web.json_response(queue_dict(queue))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/queues", list_queues)
    app.router.add_post("/api/queues", create_queue)
    app.router.add_put("/api/queues/{queue_id}", update_queue)

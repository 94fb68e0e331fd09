"""Operations: /healthz (alive), /readyz (database and Redis reachable), /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlmodel import col, func, select

from hub.api.common import hub_of
from hub.models import Interaction

log = logging.getLogger(__name__)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def readyz(request: web.Request) -> web.Response:
    hub = hub_of(request)
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(hub.store.ping(), timeout=3)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if hub.redis is not None:
        try:
            await asyncio.wait_for(hub.redis.ping(), timeout=3)
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    # The database is the source of truth: without Redis the hub still accepts and stores every
    # contact (events wait in the outbox, routing resumes when Redis is back), so it stays in
    # the load balancer as "degraded". Without the database it cannot accept anything: 503.
    if checks["database"] != "ok":
        status = "down"
    elif any(v != "ok" for v in checks.values()):
        status = "degraded"
    else:
        status = "ok"
    return web.json_response(
        {"ok": status == "ok", "status": status, **checks}, status=503 if status == "down" else 200
    )


async def metrics(request: web.Request) -> web.Response:
    hub = hub_of(request)
    try:
        async with hub.store.session() as session:
            queued = (
                await session.exec(
                    select(func.count()).where(col(Interaction.state).in_(("queued", "offered")))
                )
            ).one()
        hub.metrics.queued.set(int(queued))
    except Exception:
        log.warning("could not count queued interactions for /metrics")
    body = generate_latest(hub.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)

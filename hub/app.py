"""create_app(settings) -> aiohttp Application; cleanup_ctx owns the database, Redis and loops."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import socketio
from aiohttp import web

from agent_console import web as console_web
from agent_console.broadcaster import BROADCAST_GROUPS, Broadcaster
from agent_console.chat_namespace import ChatNamespace
from agent_console.namespace import AgentNamespace
from agent_console.redis_manager import SteadyRedisManager
from agent_console.supervisor_namespace import SupervisorNamespace
from hub import backoffice
from hub.api import agent as agent_api
from hub.api import agents as agents_api
from hub.api import auth as auth_api
from hub.api import calls as calls_api
from hub.api import customers as customers_api
from hub.api import interactions as interactions_api
from hub.api import openapi as openapi_api
from hub.api import ops as ops_api
from hub.api import queues as queues_api
from hub.api import reports as reports_api
from hub.api import webhooks_cti, webhooks_twilio, webhooks_voice
from hub.app_keys import DEMO_LOGINS, HUB, SIO, SUPERVISORS
from hub.backoffice import BACKOFFICE_GROUP
from hub.bus import EventBus, InMemoryBus, RedisBus, consume
from hub.channels_setup import close_channels, open_channels
from hub.context import SETTLE_INTERVAL_S, Hub, system_clock
from hub.demo import seed_demo
from hub.gc_tuning import PauseRecorder
from hub.loops import run_loop
from hub.mail import mailbox_worker
from hub.metrics import Metrics
from hub.middleware import MIDDLEWARES
from hub.origins import same_origin
from hub.queues_config import sync_queues
from hub.relays import relay_events, relay_sends
from hub.routing_loop import ROUTING_GROUP, on_events, tick
from hub.routing_state import InMemoryRoutingState, RedisRoutingState, RoutingState
from hub.settings import Settings
from hub.store import Store

log = logging.getLogger(__name__)


def build_hub(settings: Settings, clock: Callable[[], datetime] | None = None) -> Hub:
    """Construct (no I/O yet): engines and clients connect lazily, cleanup_ctx opens them."""
    redis_client = None
    bus: EventBus
    state: RoutingState
    if settings.redis_url:
        import redis.asyncio as aioredis

        # Bounded waits: a Redis that is down or stalled fails a request in seconds (503), it
        # never holds it past the 15 s a webhook provider waits.
        redis_client = aioredis.from_url(
            settings.redis_url, socket_connect_timeout=2, socket_timeout=5
        )
        prefix = settings.redis_prefix
        bus = RedisBus(
            redis_client, stream=f"{prefix}events", claim_after_s=settings.bus_claim_after_s
        )
        state = RedisRoutingState(redis_client, prefix=prefix)
    else:
        bus = InMemoryBus(claim_after_s=settings.bus_claim_after_s)
        state = InMemoryRoutingState()
    store = Store(settings.database_url, settings.database_pool_size)
    metrics = Metrics()
    for engine in {store.engine, store.fanout_engine}:
        metrics.count_statements(engine)
    return Hub(
        settings=settings,
        store=store,
        bus=bus,
        routing_state=state,
        metrics=metrics,
        clock=clock or system_clock,
        node_id=secrets.token_hex(4),
        redis=redis_client,
    )


def origin_check(settings: Settings) -> Callable[[str, dict[str, Any]], bool]:
    """Engine level: the hub's own pages, plus the websites allowed to embed the chat widget.
    The /agent and /supervisor namespaces check again for same origin on connect."""
    embedders = set(settings.chat.allowed_origins)

    def allowed(origin: str, environ: dict[str, Any]) -> bool:
        return same_origin(settings, origin, environ) or "*" in embedders or origin in embedders

    return allowed


def build_sio(settings: Settings) -> socketio.AsyncServer:
    manager = (
        SteadyRedisManager(settings.redis_url, channel=f"{settings.redis_prefix}socketio")
        if settings.redis_url
        else None
    )
    return socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        cors_allowed_origins=origin_check(settings),
        # Widget uploads travel as one binary Socket.IO message; anything bigger disconnects.
        max_http_buffer_size=max(settings.max_body_bytes, settings.chat.max_upload_bytes + 65_536),
        logger=False,
        engineio_logger=False,
    )


def create_app(
    settings: Settings, *, clock: Callable[[], datetime] | None = None
) -> web.Application:
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=settings.max_body_bytes)
    hub = build_hub(settings, clock)
    sio = build_sio(settings)
    app[HUB], app[SIO] = hub, sio
    sio.register_namespace(AgentNamespace(hub))
    sio.register_namespace(ChatNamespace(hub))
    supervisors = SupervisorNamespace(hub)
    sio.register_namespace(supervisors)
    app[SUPERVISORS] = supervisors
    sio.attach(app)
    for module in (
        ops_api,
        auth_api,
        agent_api,
        agents_api,
        queues_api,
        customers_api,
        calls_api,
        interactions_api,
        reports_api,
        webhooks_twilio,
        webhooks_voice,
        webhooks_cti,
        console_web,
        openapi_api,
    ):
        module.add_routes(app)
    app.cleanup_ctx.append(_resources)
    app.cleanup_ctx.append(_background)
    return app


async def _resources(app: web.Application) -> AsyncIterator[None]:
    hub = app[HUB]
    gc_pauses = PauseRecorder(hub.metrics.gc_pause)
    gc_pauses.install()
    await hub.store.migrate()
    for group in (ROUTING_GROUP, *BROADCAST_GROUPS, BACKOFFICE_GROUP):
        try:
            await hub.bus.ensure_group(group)
        except Exception as exc:  # Redis down at start: serve degraded, no crash loop
            log.warning("bus group %s not created yet (%s); the reader retries", group, exc)
    await sync_queues(hub)
    await open_channels(hub, app[SIO])
    app[DEMO_LOGINS] = await seed_demo(hub) if hub.settings.demo_data else []
    yield
    await close_channels(hub)
    await hub.bus.close()
    if hub.redis is not None:
        await hub.redis.aclose()
    await hub.store.close()
    gc_pauses.remove()


async def _background(app: web.Application) -> AsyncIterator[None]:
    hub, sio = app[HUB], app[SIO]
    tasks: list[asyncio.Task[None]] = []
    if hub.settings.run_background:
        broadcaster = Broadcaster(hub, sio)
        routing_s = hub.settings.routing.tick_s
        jobs = {
            "routing": run_loop(hub, "routing", lambda k: tick(hub, k), interval_s=routing_s),
            "routing-events": consume(
                hub.bus,
                ROUTING_GROUP,
                hub.node_id,
                lambda evs: on_events(hub, evs),
                shutdown=hub.shutdown,
                on_backlog=hub.metrics.bus_backlog.labels(ROUTING_GROUP).set,
            ),
            **broadcaster.consumers(hub.node_id),
            "outbox": run_loop(
                hub, "outbox", lambda _k: relay_events(hub), interval_s=SETTLE_INTERVAL_S
            ),
            "sender": run_loop(hub, "sender", lambda _k: relay_sends(hub), interval_s=2.0),
            "board": run_loop(hub, "board", lambda _k: app[SUPERVISORS].push(), interval_s=2.0),
        }
        if hub.settings.email.poll_in_hub:
            for n, mailbox in enumerate(hub.settings.email.mailboxes):
                jobs[f"mail-{n}"] = mailbox_worker(hub, mailbox).run()
        if hub.settings.customers.backoffice_url:
            jobs["backoffice"] = consume(
                hub.bus,
                BACKOFFICE_GROUP,
                hub.node_id,
                lambda evs: backoffice.on_events(hub, evs),
                shutdown=hub.shutdown,
            )
        tasks = [asyncio.create_task(job, name=name) for name, job in jobs.items()]
    yield
    await stop_tasks(hub, tasks)


async def stop_tasks(hub: Hub, tasks: list[asyncio.Task[None]], grace_s: float = 5.0) -> None:
    """Idle loops are cancelled at once; one inside a step (a transaction, a send) may finish it;
    shutdown never waits forever (a task stuck in uncancellable code is logged)."""
    for event in hub.kicks.values():
        event.set()
    for task in await hub.shutdown.stop(tasks, grace_s):
        log.error("background task %s did not stop within %.0f s", task.get_name(), 2 * grace_s)
        for frame in task.get_stack():
            log.error(
                "  at %s:%s %s", frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name
            )

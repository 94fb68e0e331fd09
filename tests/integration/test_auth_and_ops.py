"""Login, tokens, the agent snapshot over REST, health, readiness and metrics."""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from hub.app import create_app
from tests.support.clock import ManualClock
from tests.support.hubs import add_agent, hub_of, login, post_sms


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def client(aiohttp_client: Any, make_settings: Callable[..., Any], clock: ManualClock) -> Any:
    c = await aiohttp_client(create_app(make_settings(), clock=clock))
    await add_agent(hub_of(c), "alice", role="agent")
    return c


async def test_login_returns_a_token_and_role(client: Any) -> None:
    resp = await client.post(
        "/api/auth/login", json={"username": "Alice", "password": "correct horse battery"}
    )
    assert resp.status == 200
    data = await resp.json()
    assert data["role"] == "agent" and len(data["token"]) >= 40


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"username": "alice", "password": "wrong"}, 401),
        ({"username": "nobody", "password": "correct horse battery"}, 401),
        ({"username": "alice"}, 422),
        ({"username": 5, "password": []}, 422),
        ("not an object", 422),
    ],
)
async def test_bad_logins_get_clear_errors(client: Any, body: Any, status: int) -> None:
    resp = await client.post("/api/auth/login", json=body)
    assert resp.status == status
    data = await resp.json()
    assert data["ok"] is False and data["message"]


async def test_a_non_json_login_is_422(client: Any) -> None:
    resp = await client.post(
        "/api/auth/login", data=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert resp.status == 422


async def test_password_guessing_is_rate_limited(client: Any) -> None:
    statuses = [
        (
            await client.post("/api/auth/login", json={"username": "alice", "password": f"x{n}"})
        ).status
        for n in range(12)
    ]
    assert statuses[:10] == [401] * 10 and statuses[-1] == 429


async def test_the_state_needs_a_valid_unexpired_unrevoked_token(
    client: Any, clock: ManualClock
) -> None:
    assert (await client.get("/api/agent/state")).status == 401
    token = await login(client, "alice")
    auth = {"Authorization": f"Bearer {token}"}
    resp = await client.get("/api/agent/state", headers=auth)
    assert resp.status == 200
    assert (await resp.json())["agent"]["username"] == "alice"
    clock.advance(timedelta(seconds=hub_of(client).settings.token_ttl_s + 1).total_seconds())
    assert (await client.get("/api/agent/state", headers=auth)).status == 401
    token = await login(client, "alice")
    auth = {"Authorization": f"Bearer {token}"}
    assert (await client.post("/api/auth/logout", headers=auth)).status == 200
    assert (await client.get("/api/agent/state", headers=auth)).status == 401


async def test_tokens_and_passwords_are_not_stored_in_clear(client: Any) -> None:
    from sqlmodel import select

    from hub.models import Agent, AuthToken

    token = await login(client, "alice")
    async with hub_of(client).store.session() as session:
        stored = (await session.exec(select(AuthToken))).one()
        agent = (await session.exec(select(Agent))).one()
    assert stored.token_hash != token and token not in stored.token_hash
    assert agent.password_hash.startswith("$argon2")


async def test_health_readiness_and_metrics(client: Any) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["database"] == "ok"
    await post_sms(client, "SMm", "+14155550100", "hi")
    metrics = await client.get("/metrics")
    text = await metrics.text()
    assert metrics.status == 200
    assert 'crmhub_webhooks_total{channel="sms",outcome="stored"} 1.0' in text
    assert "crmhub_queued_interactions 1.0" in text
    statements = float(text.split("\ncrmhub_db_statements_total ")[1].split()[0])
    assert statements >= 3  # at least the SMS's reads and its inserts


async def test_metrics_show_the_garbage_collectors_pauses(client: Any) -> None:
    def full_collections(text: str) -> float:
        line = 'crmhub_gc_pause_seconds_count{generation="2"} '
        return float(text.split(line)[1].split()[0]) if line in text else 0.0

    before = full_collections(await (await client.get("/metrics")).text())
    gc.collect()
    assert full_collections(await (await client.get("/metrics")).text()) == before + 1


async def test_readyz_is_degraded_when_redis_is_down(
    aiohttp_client: Any, make_settings: Callable[..., Any]
) -> None:
    # Port 9 (discard) is closed here: Redis configured but unreachable.
    app = create_app(make_settings(redis_url="redis://127.0.0.1:9/0"))
    app.cleanup_ctx.clear()  # startup would fail on the bus; readiness must still answer
    from hub.app_keys import HUB

    await app[HUB].store.migrate()
    c = await aiohttp_client(app)
    resp = await c.get("/readyz")
    body = await resp.json()
    assert resp.status == 200 and body["status"] == "degraded" and body["ok"] is False
    assert body["redis"].startswith("error") and body["database"] == "ok"


async def test_oversized_bodies_are_413(client: Any) -> None:
    resp = await client.post("/api/auth/login", data=b"x" * (2 * 1024 * 1024))
    assert resp.status == 413


async def test_pages_carry_a_content_security_policy(client: Any) -> None:
    resp = await client.get("/console/")
    assert resp.status == 200
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    vendor = await client.get("/console/vendor/socket.io.min.js")
    assert vendor.status == 200

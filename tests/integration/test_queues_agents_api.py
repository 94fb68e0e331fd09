"""/api/queues and /api/agents: roles, validation, live figures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hub.app import create_app
from tests.support.hubs import add_agent, hub_of, login, post_sms

pytestmark = pytest.mark.postgres


@pytest.fixture
async def client(db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any]) -> Any:
    c = await aiohttp_client(create_app(make_settings(database_url=db_url)))
    hub = hub_of(c)
    await add_agent(hub, "root", role="admin")
    await add_agent(hub, "sup", role="supervisor")
    await add_agent(hub, "alice", available=True)
    return c


async def auth(client: Any, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {await login(client, user)}"}


async def test_queue_list_shows_config_and_live_figures(client: Any) -> None:
    await post_sms(client, "SM1", "+14155550100", "hi")
    resp = await client.get("/api/queues", headers=await auth(client, "alice"))
    assert resp.status == 200
    queues = {q["id"]: q for q in (await resp.json())["queues"]}
    assert set(queues) == {"support", "sales", "vip"}
    assert queues["support"]["waiting"] == 1 and queues["support"]["agents_available"] == 1
    assert queues["support"]["next_estimated_wait_s"] == 180.0
    assert queues["sales"]["required_skills"] == {"sales": 1}


async def test_queues_are_created_and_updated_through_the_api(client: Any) -> None:
    headers = await auth(client, "sup")
    body = {
        "id": "billing",
        "name": "Billing",
        "required_skills": {"billing": 2},
        "strategy": "round_robin",
        "hours": [{"weekday": 0, "start_minute": 540, "end_minute": 1020}],
    }
    resp = await client.post("/api/queues", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    assert (await client.post("/api/queues", json=body, headers=headers)).status == 409
    resp = await client.put("/api/queues/billing", json={"answer_target_s": 45}, headers=headers)
    assert resp.status == 200 and (await resp.json())["answer_target_s"] == 45
    resp = await client.put("/api/queues/support", json={"answer_target_s": 45}, headers=headers)
    assert resp.status == 409  # defined in config


@pytest.mark.parametrize(
    "body",
    [
        {"id": "Bad Id"},
        {"id": "x", "strategy": "random"},
        {"id": "x", "channels": ["fax"]},
        {"id": "x", "answer_target_s": -1},
        {"id": "x", "unknown": 1},
    ],
)
async def test_bad_queues_are_422(client: Any, body: dict[str, Any]) -> None:
    resp = await client.post("/api/queues", json=body, headers=await auth(client, "sup"))
    assert resp.status == 422
    assert (await resp.json())["error"] == "invalid"


async def test_agents_cannot_manage_queues_or_agents(client: Any) -> None:
    headers = await auth(client, "alice")
    assert (await client.post("/api/queues", json={"id": "x"}, headers=headers)).status == 403
    assert (await client.patch("/api/agents/x", json={}, headers=headers)).status == 403
    # Agents list colleagues to transfer to: names and status, no load, skills or capacity.
    listed = await client.get("/api/agents", headers=headers)
    assert listed.status == 200
    row = (await listed.json())["agents"][0]
    assert set(row) == {"id", "display_name", "status", "queues"}


async def test_agents_are_listed_created_and_updated(client: Any) -> None:
    admin = await auth(client, "root")
    resp = await client.post(
        "/api/agents",
        json={
            "username": "dora",
            "password": "long enough pw",
            "queues": ["sales"],
            "skills": {"sales": 4},
            "capacity": {"chat": 2},
        },
        headers=admin,
    )
    assert resp.status == 201, await resp.text()
    dora = await resp.json()
    assert dora["capacity"] == {"chat": 2} and dora["skills"] == {"sales": 4}
    sup = await auth(client, "sup")
    resp = await client.patch(
        f"/api/agents/{dora['id']}",
        json={"skills": {"sales": 9}, "status": "available"},
        headers=sup,
    )
    assert resp.status == 200
    assert (await resp.json())["skills"] == {"sales": 9}
    assert (await resp.json())["status"] == "available"
    resp = await client.patch(f"/api/agents/{dora['id']}", json={"role": "admin"}, headers=sup)
    assert resp.status == 403
    resp = await client.patch(
        f"/api/agents/{dora['id']}", json={"capacity": {"fax": 1}}, headers=sup
    )
    assert resp.status == 422
    listed = await client.get("/api/agents", headers=sup)
    assert {a["username"] for a in (await listed.json())["agents"]} >= {"dora", "alice"}

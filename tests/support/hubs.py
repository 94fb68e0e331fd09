"""Start a hub for a test: the real app factory, startup and cleanup, and a logged-in agent."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from hub.actions.create_agent import create_agent
from hub.actions.set_agent_status import set_agent_status
from hub.app_keys import HUB
from hub.context import Hub
from hub.models import Agent
from tests.conftest import TEST_AUTH_TOKEN, TEST_PUBLIC_URL
from tests.support.twilio_signing import sms_form, twilio_signature

PASSWORD = "correct horse battery"


def hub_of(client: TestClient) -> Hub:
    return client.app[HUB]


async def add_agent(hub: Hub, username: str, *, available: bool = False, **kw: Any) -> Agent:
    agent = await create_agent(hub, username, PASSWORD, **kw)
    if available:
        agent = await set_agent_status(hub, agent.id, "available")
    return agent


async def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    resp = await client.post("/api/auth/login", json={"username": username, "password": password})
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["token"])


async def post_sms(
    client: TestClient, sid: str, sender: str, body: str, *, signature: str | None = None
) -> Any:
    form = sms_form(sid, sender, body)
    path = "/webhooks/twilio/sms"
    sig = (
        signature
        if signature is not None
        else twilio_signature(TEST_AUTH_TOKEN, TEST_PUBLIC_URL + path, form)
    )
    return await client.post(path, data=form, headers={"X-Twilio-Signature": sig})

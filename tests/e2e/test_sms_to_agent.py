"""The walking skeleton end to end: signed SMS in -> offer to a logged-in console -> accept ->
reply -> the reply reaches (the local recording stand-in for) Twilio's REST API.

Runs twice: on the embedded defaults (SQLite, in-process bus) and on real PostgreSQL + Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hub.app import create_app
from hub.models import Customer, CustomerIdentity
from tests.support.agent_client import AgentClient
from tests.support.fake_twilio import start_fake_twilio
from tests.support.hubs import add_agent, hub_of, login, post_sms

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(params=["embedded", "services"])
def services_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "embedded":
        return {}
    return {
        "database_url": request.getfixturevalue("pg_url"),
        "redis_url": request.getfixturevalue("redis_url"),
        "redis_prefix": request.getfixturevalue("redis_prefix"),
    }


async def seed_vip(client: Any) -> None:
    async with hub_of(client).store.transaction() as session:
        vera = Customer(name="Vera Important", tier="vip", lifetime_value=182_000)
        session.add(vera)
        session.add(CustomerIdentity(customer_id=vera.id, kind="phone", value="+14155550101"))


async def test_sms_reaches_an_agent_and_the_reply_reaches_twilio(
    services_settings: dict[str, Any], aiohttp_client: Any, make_settings: Callable[..., Any]
) -> None:
    async with start_fake_twilio() as twilio:
        settings = make_settings(
            run_background=True,
            twilio={"api_base_url": twilio.base_url},
            routing={"tick_s": 0.2},
            **services_settings,
        )
        client = await aiohttp_client(create_app(settings))
        await seed_vip(client)
        await add_agent(hub_of(client), "alice")
        console = AgentClient()
        await console.connect(str(client.make_url("/")), await login(client, "alice"))
        try:
            state = await console.next("state")
            assert state["agent"]["status"] == "offline" and state["offers"] == []
            ack = await console.call("status", {"status": "available"})
            assert ack["ok"] and ack["agent"]["status"] == "available"

            resp = await post_sms(client, "SMe2e1", "(415) 555-0101", "Is my order shipped?")
            assert resp.status == 200

            offer = await console.next("offer")
            assert offer["customer"]["name"] == "Vera Important"
            assert offer["customer"]["tier"] == "vip"
            assert offer["messages"][-1]["body"] == "Is my order shipped?"
            assert "VIP" in offer["priority_explain"]
            interaction_id = offer["interaction"]["id"]

            ack = await console.call("accept", {"interaction_id": interaction_id})
            assert ack == {"ok": True, "interaction_id": interaction_id}
            assigned = await console.next("interaction.assigned")
            assert assigned["interaction"]["state"] == "assigned"

            ack = await console.call(
                "reply", {"interaction_id": interaction_id, "body": "Yes, it ships today."}
            )
            assert ack["ok"] and ack["message"]["status"] == "queued"
            sent = await twilio.wait_for(lambda r: r.path.endswith("/Messages.json"))
            assert sent.form["Body"] == "Yes, it ships today."
            assert sent.form["To"] == "+14155550101"
            assert sent.form["From"] == "+15550001111"
            assert sent.form["StatusCallback"].endswith("/webhooks/twilio/sms/status")
            assert sent.auth == (settings.twilio.account_sid, settings.twilio.auth_token)
            status = await console.next("message.status")
            assert status["status"] == "sent"

            ack = await console.call("accept", {"interaction_id": interaction_id})
            assert ack["ok"] is False and ack["error"] == "conflict"  # accepted once only
        finally:
            await console.close()


async def test_a_connection_without_a_valid_token_is_refused(
    aiohttp_client: Any, make_settings: Callable[..., Any]
) -> None:
    import socketio

    client = await aiohttp_client(create_app(make_settings()))
    for token in (None, "not-a-token"):
        console = AgentClient()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await console.connect(str(client.make_url("/")), token)


async def test_a_socket_from_a_foreign_origin_is_refused(
    aiohttp_client: Any, make_settings: Callable[..., Any]
) -> None:
    import socketio

    client = await aiohttp_client(create_app(make_settings()))
    await add_agent(hub_of(client), "alice")
    token = await login(client, "alice")
    sio = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(
            str(client.make_url("/")),
            namespaces=["/agent"],
            auth={"token": token},
            headers={"Origin": "https://evil.example"},
            transports=["websocket"],
            wait_timeout=5,
        )

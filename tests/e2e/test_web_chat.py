"""Web chat over Socket.IO /chat: sessions, isolation, identity hashes, agent round trip."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlmodel import select

from channels.web_chat import identity_hash
from hub.app import create_app
from hub.models import Customer, CustomerIdentity, Interaction, Message
from tests.support.agent_client import AgentClient
from tests.support.hubs import add_agent, hub_of, login
from tests.support.visitor_client import VisitorClient

SECRET = "site-identity-secret"


@pytest.fixture
async def client(aiohttp_client: Any, make_settings: Callable[..., Any]) -> Any:
    settings = make_settings(
        run_background=True,
        routing={"tick_s": 0.2},
        chat={"identity_secret": SECRET, "max_messages_per_minute": 5},
    )
    return await aiohttp_client(create_app(settings))


@pytest.fixture
async def agent(client: Any) -> AsyncIterator[AgentClient]:
    await add_agent(hub_of(client), "alice", display_name="Alice A.")
    console = AgentClient()
    await console.connect(str(client.make_url("/")), await login(client, "alice"))
    await console.call("status", {"status": "available"})
    yield console
    await console.close()


async def visitor(client: Any, **auth: Any) -> VisitorClient:
    v = VisitorClient()
    await v.connect(str(client.make_url("/")), **auth)
    return v


async def test_visitor_and_agent_talk_and_a_reload_restores_the_conversation(
    client: Any, agent: AgentClient
) -> None:
    v = await visitor(client, name="Vic", email="vic@example.com")
    session = await v.next("session")
    history = await v.next("history")
    assert history["messages"] == [] and history["available"] is True
    ack = await v.call("message", {"body": "<img src=x onerror=alert(1)> hello"})
    assert ack["ok"] and ack["position"] in (1, None)
    offer = await agent.next("offer")
    assert offer["messages"][-1]["body"] == "<img src=x onerror=alert(1)> hello"
    await agent.call("accept", {"interaction_id": offer["interaction"]["id"]})
    assert (await v.next("agent"))["name"] == "Alice A."
    await v.call("typing", {"typing": True})
    await agent.call("typing", {"interaction_id": offer["interaction"]["id"], "typing": True})
    assert (await v.next("typing"))["typing"] is True
    await agent.call("reply", {"interaction_id": offer["interaction"]["id"], "body": "Hi Vic!"})
    reply = await v.next("message")
    assert reply["body"] == "Hi Vic!" and reply["author"] == "Alice A."
    # Read state both ways: the agent saw the visitor's message, the visitor saw the reply.
    assert (await agent.call("read", {"interaction_id": offer["interaction"]["id"]}))["ok"]
    await v.next("read")
    assert (await v.call("read", {}))["ok"]
    while True:
        status = await agent.next("message.status")
        if status["body"] == "Hi Vic!" and status["status"] == "read":
            break
    await v.close()

    again = await visitor(client, token=session["token"])
    restored = await again.next("history")
    assert [m["body"] for m in restored["messages"]] == [
        "<img src=x onerror=alert(1)> hello",
        "Hi Vic!",
    ]
    assert restored["agent"] == "Alice A."
    assert again.token is None  # the valid token was kept, not replaced
    await again.close()


async def test_another_visitor_never_sees_the_conversation(client: Any) -> None:
    first = await visitor(client)
    await first.next("session")
    await first.call("message", {"body": "my secret"})
    second = await visitor(client)
    assert (await second.next("history"))["messages"] == []
    forged = await visitor(client, token=(first.token or "x") + "0")
    assert (await forged.next("history"))["messages"] == []
    assert forged.token is not None and forged.token != first.token
    for v in (first, second, forged):
        await v.close()


async def test_typed_email_never_reveals_history(client: Any) -> None:
    hub = hub_of(client)
    async with hub.store.transaction() as s:
        c = Customer(name="Real Owner")
        s.add(c)
        s.add(CustomerIdentity(customer_id=c.id, kind="email", value="owner@example.com"))
    v = await visitor(client, email="owner@example.com")
    assert (await v.next("history"))["messages"] == []
    await v.call("message", {"body": "show me their stuff"})
    async with hub.store.session() as s:
        from sqlmodel import select

        it = (await s.exec(select(Interaction))).one()
    assert it.customer_id != c.id
    await v.close()


async def test_a_valid_identity_hash_ties_the_chat_to_the_customer_and_its_tier(
    client: Any, agent: AgentClient
) -> None:
    hub = hub_of(client)
    async with hub.store.transaction() as s:
        c = Customer(name="Known VIP", tier="vip", lifetime_value=250_000)
        s.add(c)
        s.add(
            CustomerIdentity(
                customer_id=c.id, kind="external", value="site:cust-42", confidence="verified"
            )
        )
    expires = int(time.time()) + 600
    good = {"id": "cust-42", "expires": expires, "hash": identity_hash(SECRET, "cust-42", expires)}
    v = await visitor(client, identity=good)
    await v.next("history")
    await v.call("message", {"body": "hi, it is me"})
    offer = await agent.next("offer")
    assert offer["customer"]["name"] == "Known VIP" and offer["customer"]["tier"] == "vip"
    await v.close()
    for bad in ({**good, "hash": "0" * 64}, {**good, "expires": int(time.time()) - 5}):
        anon = await visitor(client, identity=bad)
        assert (await anon.next("history"))["messages"] == []  # anonymous: no history
        await anon.close()


async def test_rate_and_size_limits(client: Any) -> None:
    v = await visitor(client)
    await v.next("history")
    too_big = await v.call("message", {"body": "x" * 20_000})
    assert too_big["ok"] is False and too_big["error"] == "invalid"
    acks = [await v.call("message", {"body": f"m{n}"}) for n in range(7)]
    assert [a["ok"] for a in acks] == [True] * 4 + [False] * 3  # the oversized one counted
    assert acks[-1]["error"] == "rate_limited"
    await v.close()


async def test_rating_is_stored(client: Any, agent: AgentClient) -> None:
    v = await visitor(client)
    await v.next("history")
    await v.call("message", {"body": "help"})
    offer = await agent.next("offer")
    await agent.call("accept", {"interaction_id": offer["interaction"]["id"]})
    assert (await v.call("close", {"rating": 9}))["ok"] is False
    assert (await v.call("close", {"rating": 5}))["ok"] is True
    async with hub_of(client).store.session() as s:
        it = await s.get(Interaction, offer["interaction"]["id"])
    assert it is not None and it.meta["csat"] == 5
    await v.close()


async def test_a_resent_message_with_its_id_is_stored_once(client: Any) -> None:
    """The widget resends a message under the same id after an error ack; the hub may have
    stored the first attempt (a failure after the commit), so the id makes the resend a no-op."""
    v = await visitor(client, name="Vic")
    other = await visitor(client, name="Eve")
    first = await v.call("message", {"body": "my order is late", "id": "m-0001-abcd"})
    again = await v.call("message", {"body": "my order is late", "id": "m-0001-abcd"})
    assert first["ok"] and again["ok"] and again["id"] == first["id"]
    # Another visitor using the same id gets a message of its own.
    theirs = await other.call("message", {"body": "hello", "id": "m-0001-abcd"})
    assert theirs["ok"] and theirs["id"] != first["id"]
    assert (await v.call("message", {"body": "x", "id": "bad id!"}))["error"] == "invalid"
    async with hub_of(client).store.session() as session:
        bodies = (await session.exec(select(Message.body))).all()
    assert sorted(bodies) == ["hello", "my order is late"]
    await v.close()
    await other.close()

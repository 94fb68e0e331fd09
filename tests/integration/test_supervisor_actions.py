"""Supervisor actions on /supervisor: reassign work to an agent or a queue (audit-logged, the old
console drops it, the new one gets it), and a read-only live look at any conversation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlmodel import select

from hub.actions.set_agent_status import set_agent_status
from hub.app import create_app
from hub.models import Agent, AuditLog, Interaction
from tests.support.agent_client import AgentClient
from tests.support.fake_twilio import start_fake_twilio
from tests.support.hubs import add_agent, hub_of, login, post_sms
from tests.support.socket_client import RecordingClient

pytestmark = pytest.mark.postgres


class SupervisorClient(RecordingClient):
    def __init__(self) -> None:
        super().__init__("/supervisor", ("board", "peek.message", "peek.updated"))


@pytest.fixture
async def client(
    db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any]
) -> AsyncIterator[Any]:
    async with start_fake_twilio() as twilio:
        settings = make_settings(
            database_url=db_url,
            run_background=True,
            twilio={"api_base_url": twilio.base_url},
            routing={"tick_s": 0.2, "wrapup_s": 0},
            queues=[{"id": "support", "name": "Support"}, {"id": "billing", "name": "Billing"}],
        )
        c = await aiohttp_client(create_app(settings))
        hub = hub_of(c)
        await add_agent(hub, "alice", available=True, queues=["support"])
        bob = await add_agent(hub, "bob", queues=["support", "billing"])
        await set_agent_status(hub, bob.id, "away", "training")  # no offers, but reachable
        await add_agent(hub, "sam", role="supervisor")
        yield c


async def open_console(client: Any, name: str) -> AgentClient:
    console = AgentClient()
    await console.connect(str(client.make_url("/")), await login(client, name))
    return console


async def test_reassign_and_peek(client: Any) -> None:
    hub = hub_of(client)
    alice, bob = await open_console(client, "alice"), await open_console(client, "bob")
    sam = SupervisorClient()
    sam_token = await login(client, "sam")
    await sam.open(str(client.make_url("/")), {"token": sam_token})
    try:
        await post_sms(client, "SM1", "+14155550101", "<b>where</b> is my parcel?")
        offer = await alice.next("offer")
        it_id = offer["interaction"]["id"]
        assert (await alice.call("accept", {"interaction_id": it_id}))["ok"]

        peek = await sam.call("peek", {"interaction_id": it_id})
        assert peek["ok"] and [m["body"] for m in peek["messages"]] == [
            "<b>where</b> is my parcel?"
        ]
        await post_sms(client, "SM2", "+14155550101", "hello?")
        assert (await sam.next("peek.message"))["body"] == "hello?"
        await alice.call("reply", {"interaction_id": it_id, "body": "On it"})
        assert (await sam.next("peek.message"))["body"] == "On it"
        # Read-only: the supervisor namespace has no way to write into the conversation.
        assert (
            await sam.sio.call(
                "reply", {"interaction_id": it_id, "body": "x"}, namespace="/supervisor", timeout=2
            )
            is None
        )

        moved = await sam.call("reassign", {"interaction_id": it_id, "agent_id": _ids["bob"]})
        assert moved["ok"], moved
        gone = await alice.next("interaction.updated")
        assert gone["id"] == it_id and gone["assigned_agent_id"] == _ids["bob"]
        got = await bob.next("interaction.assigned")
        assert got["interaction"]["id"] == it_id
        assert (await sam.next("peek.updated"))["id"] == it_id

        # To a queue: back to waiting (bob skipped), keeping its enqueue time.
        back = await sam.call("reassign", {"interaction_id": it_id, "queue_id": "billing"})
        assert back["ok"] and back["interaction"]["state"] in ("queued", "offered")
        assert back["interaction"]["enqueued_at"] == offer["interaction"]["enqueued_at"]
        async with hub.store.session() as session:
            row = await session.get(Interaction, it_id)
            audit = (
                await session.exec(
                    select(AuditLog).where(AuditLog.action == "interaction.reassign")
                )
            ).all()
        assert row is not None and row.queue_id == "billing"
        assert [a.actor for a in audit] == ["sam", "sam"]
        assert audit[0].detail["to_agent"] == _ids["bob"]

        # After a logout the open socket's commands stop working.
        await client.post("/api/auth/logout", headers={"Authorization": f"Bearer {sam_token}"})
        refused = await sam.call("peek", {"interaction_id": it_id})
        assert refused["ok"] is False and refused["error"] == "unauthorized"
    finally:
        for c in (alice, bob, sam):
            await c.close()


_ids: dict[str, str] = {}


@pytest.fixture(autouse=True)
async def remember_ids(client: Any) -> None:
    async with hub_of(client).store.session() as session:
        for agent in (await session.exec(select(Agent))).all():
            _ids[agent.username] = agent.id


async def test_reassign_respects_capacity_and_bad_requests(client: Any) -> None:
    hub = hub_of(client)
    alice = await open_console(client, "alice")
    sam = SupervisorClient()
    await sam.open(str(client.make_url("/")), {"token": await login(client, "sam")})
    try:
        async with hub.store.transaction() as session:
            bob = await session.get(Agent, _ids["bob"])
            assert bob is not None
            bob.capacity = {**bob.capacity, "sms": 0}
            bob.status = "available"
            session.add(bob)
        await post_sms(client, "SM3", "+14155550102", "hi")
        it_id = (await alice.next("offer"))["interaction"]["id"]
        full = await sam.call("reassign", {"interaction_id": it_id, "agent_id": _ids["bob"]})
        assert full["error"] == "conflict" and "capacity" in full["message"]
        for bad in ({}, {"interaction_id": it_id}, {"interaction_id": it_id, "queue_id": "nope"}):
            assert (await sam.call("reassign", bad))["error"] == "invalid"
        missing = await sam.call("peek", {"interaction_id": "nope"})
        assert missing["error"] == "not_found"
    finally:
        await alice.close()
        await sam.close()

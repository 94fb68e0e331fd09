"""Server side of the agent console: configured wrap-up codes, canned responses, transfer notes,
ended calls that still need a disposition, live customer pages, and who may open a conversation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from channels.base import InboundContact
from hub.actions.handle_offer import accept_offer
from hub.actions.receive_contact import receive_contact
from hub.actions.route_interactions import route_interactions
from hub.actions.transfer_interaction import transfer_interaction
from hub.actions.wrap_up import wrap_up
from hub.app import create_app
from hub.context import Hub
from hub.errors import Invalid
from hub.models import Customer, Interaction, Message
from hub.routing_snapshot import agent_loads, load_snapshot
from tests.support.agent_client import AgentClient
from tests.support.clock import ManualClock
from tests.support.hubs import add_agent, hub_of, login

pytestmark = pytest.mark.postgres


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def client(
    db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any], clock: ManualClock
) -> Any:
    settings = make_settings(
        database_url=db_url,
        queues=[{"id": "support", "name": "Support"}, {"id": "sales", "name": "Sales"}],
    )
    return await aiohttp_client(create_app(settings, clock=clock))


async def sms_assigned_to(hub: Hub, agent_id: str, sid: str, phone: str) -> str:
    got = await receive_contact(
        hub, InboundContact(channel="sms", provider_ref=sid, sender=phone, body="my order?")
    )
    await route_interactions(hub)
    await accept_offer(hub, agent_id, got.interaction_id)
    return got.interaction_id


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_snapshot_carries_dispositions_canned_responses_and_capacity(client: Any) -> None:
    await add_agent(hub_of(client), "alice")
    token = await login(client, "alice")
    state = await (await client.get("/api/agent/state", headers=auth(token))).json()
    codes = [d["code"] for d in state["config"]["dispositions"]]
    assert "resolved" in codes and "follow_up" in codes
    assert any(c["shortcut"] == "hello" for c in state["config"]["canned_responses"])
    assert state["agent"]["capacity"]["voice"] == 1


async def test_wrap_up_accepts_only_configured_dispositions(client: Any) -> None:
    hub = hub_of(client)
    alice = await add_agent(hub, "alice", available=True)
    it = await sms_assigned_to(hub, alice.id, "SM1", "+15551230001")
    with pytest.raises(Invalid, match="unknown disposition"):
        await wrap_up(hub, alice.id, it, "made_up_code")
    await wrap_up(hub, alice.id, it, "follow_up", "call back Monday")
    async with hub.store.session() as session:
        row = await session.get(Interaction, it)
        assert row is not None and row.disposition == "follow_up"


async def test_a_transfer_note_reaches_the_next_agent_but_never_the_customer(client: Any) -> None:
    hub = hub_of(client)
    alice = await add_agent(hub, "alice", available=True)
    bob = await add_agent(hub, "bob", queues=["sales"])
    it = await sms_assigned_to(hub, alice.id, "SM2", "+15551230002")
    await transfer_interaction(hub, alice.id, it, queue_id="sales", note="wants a refund, VIP")
    async with hub.store.session() as session:
        notes = (await session.exec(select(Message).where(Message.interaction_id == it))).all()
    note = next(m for m in notes if m.direction == "note")
    assert note.body == "wants a refund, VIP" and note.status == "internal"
    assert note.author_agent_id == alice.id

    bob_token = await login(client, "bob")
    await client.patch(
        f"/api/agents/{bob.id}", json={"status": "available"}, headers=auth(bob_token)
    )
    from hub.actions.set_agent_status import set_agent_status

    await set_agent_status(hub, bob.id, "available")
    await route_interactions(hub)
    state = await (await client.get("/api/agent/state", headers=auth(bob_token))).json()
    [offer] = state["offers"]
    assert [m["body"] for m in offer["messages"] if m["direction"] == "note"] == [
        "wants a refund, VIP"
    ]
    # The customer's timeline preview is the customer's conversation, not the internal note.
    assert offer["customer"]["history"][0]["preview"] == "my order?"
    # Nothing was queued for sending.
    assert not [m for m in notes if m.direction == "out"]


async def test_an_ended_call_waits_for_its_disposition_and_blocks_the_next_call(
    client: Any, clock: ManualClock
) -> None:
    hub = hub_of(client)
    alice = await add_agent(hub, "alice", available=True)
    now = hub.now()
    async with hub.store.transaction() as session:
        customer = Customer(name="Caller")
        session.add(customer)
        await session.flush()
        call = Interaction(
            customer_id=customer.id,
            channel="voice",
            state="closed",
            queue_id="support",
            customer_address="+15551230003",
            assigned_agent_id=alice.id,
            closed_at=now,
        )
        session.add(call)
    async with hub.store.session() as session:
        assert (await agent_loads(session, now - timedelta(minutes=15)))[alice.id] == {"voice": 1}
        assert alice.id not in await agent_loads(session)  # without the cut-off: only live work
        snapshot = await load_snapshot(session, hub.settings, now)
        [view] = snapshot.agents
        assert view.load == {"voice": 1}  # so no voice offer until the call is wrapped up
        later = await load_snapshot(session, hub.settings, now + timedelta(hours=1))
        assert later.agents[0].load == {}  # a forgotten disposition does not block forever

    token = await login(client, "alice")
    state = await (await client.get("/api/agent/state", headers=auth(token))).json()
    [item] = state["interactions"]
    assert item["interaction"]["id"] == call.id and item["interaction"]["needs_wrapup"] is True

    await wrap_up(hub, alice.id, call.id, "resolved")
    state = await (await client.get("/api/agent/state", headers=auth(token))).json()
    assert state["interactions"] == []
    async with hub.store.session() as session:
        assert alice.id not in await agent_loads(session, now - timedelta(minutes=15))


async def test_live_work_and_calls_waiting_for_a_disposition_add_up(client: Any) -> None:
    """A pass reads both in one statement (LOADS_AND_PENDING): live work per channel, plus the
    ended calls still waiting for this agent's disposition on voice."""
    hub = hub_of(client)
    alice = await add_agent(hub, "alice", available=True)
    bob = await add_agent(hub, "bob", available=True)
    now = hub.now()
    async with hub.store.transaction() as session:
        customer = Customer(name="Caller")
        session.add(customer)
        await session.flush()
        work = [
            ("voice", "closed", alice.id),  # ended, no disposition yet
            ("voice", "assigned", alice.id),
            ("chat", "assigned", alice.id),
            ("chat", "offered", bob.id),
        ]
        for channel, state, agent_id in work:
            session.add(
                Interaction(
                    customer_id=customer.id,
                    channel=channel,
                    state=state,
                    queue_id="support",
                    assigned_agent_id=agent_id if state != "offered" else None,
                    offered_agent_id=agent_id if state == "offered" else None,
                    closed_at=now if state == "closed" else None,
                )
            )
    async with hub.store.session() as session:
        loads = await agent_loads(session, now - timedelta(minutes=15))
        assert loads == {alice.id: {"voice": 2, "chat": 1}, bob.id: {"chat": 1}}
        assert await agent_loads(session) == {
            alice.id: {"voice": 1, "chat": 1},
            bob.id: {"chat": 1},
        }


async def test_an_agent_opens_only_their_own_or_finished_interactions_of_their_queues(
    client: Any,
) -> None:
    hub = hub_of(client)
    alice = await add_agent(hub, "alice", available=True)
    await add_agent(hub, "bob")  # same queue as alice
    await add_agent(hub, "carol", queues=["sales"])
    await add_agent(hub, "sue", role="supervisor")
    it = await sms_assigned_to(hub, alice.id, "SM4", "+15551230004")
    tokens = {name: await login(client, name) for name in ("alice", "bob", "carol", "sue")}

    async def status(name: str, interaction_id: str = it) -> int:
        resp = await client.get(f"/api/interactions/{interaction_id}", headers=auth(tokens[name]))
        return int(resp.status)

    assert await status("alice") == 200
    assert await status("bob") == 403  # another agent's live conversation
    assert await status("carol") == 403
    assert await status("sue") == 200
    assert await status("alice", "nope") == 404
    resp = await client.get(f"/api/interactions/{it}")
    assert resp.status == 401

    await wrap_up(hub, alice.id, it, "resolved")
    assert await status("bob") == 200  # finished work of his queue: customer history
    assert await status("carol") == 403  # not her queue
    body = await (await client.get(f"/api/interactions/{it}", headers=auth(tokens["bob"]))).json()
    assert body["interaction"]["disposition"] == "resolved"
    assert [m["body"] for m in body["messages"]] == ["my order?"]


async def test_a_customer_page_is_refreshed_live_when_someone_else_edits_it(
    db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any]
) -> None:
    settings = make_settings(database_url=db_url, run_background=True)
    client = await aiohttp_client(create_app(settings))
    hub = hub_of(client)
    await add_agent(hub, "alice")
    await add_agent(hub, "bob")
    async with hub.store.transaction() as session:
        customer = Customer(name="Wang Fang")
        session.add(customer)
    alice = AgentClient()
    await alice.connect(str(client.make_url("/")), await login(client, "alice"))
    alice.sio.on("customer.changed", alice._recorder("customer.changed"), namespace="/agent")
    try:
        ack = await alice.call("watch_customer", {"customer_id": customer.id})
        assert ack == {"ok": True}
        assert (await alice.call("watch_customer", {"customer_id": "nope"}))["error"] == (
            "not_found"
        )
        bob = await login(client, "bob")
        resp = await client.post(
            f"/api/customers/{customer.id}/notes",
            json={"body": "prefers WeChat"},
            headers=auth(bob),
        )
        assert resp.status in (200, 201), await resp.text()
        changed = await alice.next("customer.changed")
        assert changed == {"id": customer.id}
    finally:
        await alice.close()


@pytest.mark.parametrize(
    "preferences",
    [
        {"contact_hours": "x" * 501},
        {"k": {"nested": 1}},
        {"": "v"},
        {f"k{i}": "v" for i in range(51)},
    ],
)
async def test_preferences_edited_in_the_console_are_bounded(
    client: Any, preferences: dict[str, Any]
) -> None:
    hub = hub_of(client)
    await add_agent(hub, "alice")
    token = await login(client, "alice")
    async with hub.store.transaction() as session:
        customer = Customer(name="Bounded")
        session.add(customer)
    resp = await client.patch(
        f"/api/customers/{customer.id}", json={"preferences": preferences}, headers=auth(token)
    )
    assert resp.status == 422
    ok = await client.patch(
        f"/api/customers/{customer.id}",
        json={"preferences": {"contact_hours": "after 18:00"}},
        headers=auth(token),
    )
    assert ok.status == 200 and (await ok.json())["preferences"] == {"contact_hours": "after 18:00"}


async def test_email_attachments_are_kept_and_served_only_to_who_may_open_them(
    client: Any,
) -> None:
    from channels.email_parse import parse_email
    from hub.actions.erase_customer import erase_customer
    from hub.models import StoredAttachment
    from tests.unit.email.conftest import CORPUS_DIR

    hub = hub_of(client)
    alice = await add_agent(hub, "alice", available=True)
    await add_agent(hub, "bob")
    await add_agent(hub, "root", role="admin")
    contact = parse_email((CORPUS_DIR / "04_attachment_pdf.eml").read_bytes())
    [pdf] = [a for a in contact.attachments if a.filename.endswith(".pdf")]
    got = await receive_contact(hub, contact)
    await route_interactions(hub)
    await accept_offer(hub, alice.id, got.interaction_id)

    alice_token = await login(client, "alice")
    state = await (await client.get("/api/agent/state", headers=auth(alice_token))).json()
    [item] = state["interactions"]
    [listed] = [a for a in item["messages"][0]["attachments"] if a["filename"] == pdf.filename]
    assert listed["stored"] and listed["size"] == pdf.size

    url = f"/api/attachments/{listed['id']}"
    resp = await client.get(url, headers=auth(alice_token))
    assert resp.status == 200 and await resp.read() == pdf.data
    assert resp.headers["Content-Type"] == "application/octet-stream"  # never rendered
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert (await client.get(url, headers=auth(await login(client, "bob")))).status == 403
    assert (await client.get(url)).status == 401
    assert (await client.get("/api/attachments/guess", headers=auth(alice_token))).status == 404

    await erase_customer(hub, got.customer_id, actor="root")
    async with hub.store.session() as session:
        assert (await session.exec(select(StoredAttachment))).all() == []


async def test_attachments_over_the_limit_are_listed_not_kept(
    db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any]
) -> None:
    from channels.email_parse import parse_email
    from tests.unit.email.conftest import CORPUS_DIR

    settings = make_settings(database_url=db_url, max_attachment_bytes=10)
    hub = hub_of(await aiohttp_client(create_app(settings)))
    got = await receive_contact(
        hub, parse_email((CORPUS_DIR / "04_attachment_pdf.eml").read_bytes())
    )
    from hub.models import StoredAttachment

    async with hub.store.session() as session:
        rows = (await session.exec(select(StoredAttachment))).all()
    assert rows and all(r.data is None and r.size > 10 for r in rows)
    assert got.message_id

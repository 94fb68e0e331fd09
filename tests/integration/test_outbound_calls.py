"""Click-to-call from the console: one Twilio call to the agent that dials the customer, checked on
the local recording Twilio server; logged as an outbound interaction; placed at most once."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import select

from hub.actions.handle_offer import accept_offer
from hub.actions.route_interactions import route_interactions
from hub.actions.start_call import start_call
from hub.app import create_app
from hub.context import Hub
from hub.errors import Conflict, Invalid
from hub.models import Agent, Customer, CustomerIdentity, Interaction
from hub.relays import relay_sends
from tests.conftest import TEST_AUTH_TOKEN, TEST_PUBLIC_URL
from tests.support.agent_client import AgentClient
from tests.support.clock import ManualClock
from tests.support.fake_twilio import FakeTwilio
from tests.support.hubs import add_agent, hub_of, login
from tests.support.twilio_signing import twilio_signature

pytestmark = pytest.mark.postgres


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def client(
    db_url: str,
    aiohttp_client: Any,
    make_settings: Callable[..., Any],
    twilio: FakeTwilio,
    clock: ManualClock,
) -> Any:
    settings = make_settings(
        database_url=db_url,
        twilio={"api_base_url": twilio.base_url},
        default_region="CN",
        cti={"blocked_numbers": ["+86 139 0000 0000"]},
    )
    return await aiohttp_client(create_app(settings, clock=clock))


async def agent_with_client(hub: Hub, name: str) -> Agent:
    agent = await add_agent(hub, name)
    async with hub.store.transaction() as session:
        row = await session.get(Agent, agent.id)
        assert row is not None
        row.client_identity = f"{name}-browser"
        session.add(row)
    return row


async def customer(hub: Hub, *phones: str, **fields: Any) -> str:
    async with hub.store.transaction() as session:
        c = Customer(name="Wang Fang", **fields)
        session.add(c)
        await session.flush()
        for phone in phones:
            session.add(CustomerIdentity(customer_id=c.id, kind="phone", value=phone))
        return c.id


async def status_callback(client: Any, sid: str, duration: str) -> int:
    form = {"CallSid": sid, "CallStatus": "completed", "CallDuration": duration}
    path = "/webhooks/twilio/voice/status"
    sig = twilio_signature(TEST_AUTH_TOKEN, TEST_PUBLIC_URL + path, form)
    resp = await client.post(path, data=form, headers={"X-Twilio-Signature": sig})
    return int(resp.status)


async def test_click_to_call_rings_the_agent_then_dials_the_customer(
    client: Any, twilio: FakeTwilio
) -> None:
    hub = hub_of(client)
    alice = await agent_with_client(hub, "alice")
    cid = await customer(hub, "+8613800138000")
    console = AgentClient()
    await console.connect(str(client.make_url("/")), await login(client, "alice"))
    try:
        # The number as the agent sees or types it, in a national format.
        ack = await console.call("call.start", {"customer_id": cid, "number": "138 0013 8000"})
        assert ack["ok"] is True, ack
    finally:
        await console.close()
    await relay_sends(hub)
    create = await twilio.wait_for(lambda r: r.path.endswith("/Calls.json"))
    assert create.form["To"] == "client:alice-browser"
    assert create.form["From"] == "+15550001111"
    assert create.form["StatusCallback"] == TEST_PUBLIC_URL + "/webhooks/twilio/voice/status"
    dial = ET.fromstring(create.form["Twiml"]).find("Dial")
    assert dial is not None and dial.get("callerId") == "+15550001111"
    assert (dial.findtext("Number") or "").strip() == "+8613800138000"

    async with hub.store.session() as session:
        it = await session.get(Interaction, ack["interaction_id"])
    assert it is not None and it.direction == "out" and it.state == "assigned"
    assert it.assigned_agent_id == alice.id and it.provider_ref and it.provider_ref.startswith("CA")
    await relay_sends(hub)  # nothing left to do: one call only
    assert len([r for r in twilio.requests if r.path.endswith("/Calls.json")]) == 1

    assert await status_callback(client, it.provider_ref, "61") == 200
    async with hub.store.session() as session:
        done = await session.get(Interaction, it.id)
    assert done is not None and done.state == "closed" and done.meta["talk_s"] == 61
    headers = {"Authorization": f"Bearer {await login(client, 'alice')}"}
    log = (await (await client.get("/api/calls", headers=headers)).json())["calls"]
    assert [(c["direction"], c["talk_s"], c["number"]) for c in log] == [
        ("out", 61, "+8613800138000")
    ]
    view = await (await client.get(f"/api/customers/{cid}", headers=headers)).json()
    assert view["interactions"][0]["id"] == it.id  # in the customer's timeline


@pytest.mark.parametrize(
    ("number", "fields", "error"),
    [
        ("not a number", {}, "cannot read"),
        ("+8613700137000", {}, "not one of this customer's numbers"),
        ("+8613800138000", {"consent": {"voice": False}}, "asked not to be called"),
        ("+8613900000000", {}, "blocked"),
    ],
)
async def test_calls_that_must_not_be_placed(
    client: Any, twilio: FakeTwilio, number: str, fields: dict[str, Any], error: str
) -> None:
    hub = hub_of(client)
    alice = await agent_with_client(hub, "alice")
    cid = await customer(hub, "+8613800138000", "+8613900000000", **fields)
    with pytest.raises(Invalid, match=error):
        await start_call(hub, alice.id, cid, number)
    assert twilio.requests == []


async def test_one_call_at_a_time(client: Any) -> None:
    hub = hub_of(client)
    alice = await agent_with_client(hub, "alice")
    cid = await customer(hub, "+8613800138000")
    await start_call(hub, alice.id, cid, "+8613800138000")
    with pytest.raises(Conflict, match="finish your current call"):
        await start_call(hub, alice.id, cid, "+8613800138000")


async def test_twilio_errors_are_retried_but_an_unknown_outcome_is_never_redialled(
    client: Any, twilio: FakeTwilio, clock: ManualClock
) -> None:
    hub = hub_of(client)
    alice = await agent_with_client(hub, "alice")
    cid = await customer(hub, "+8613800138000")
    twilio.fail_next(1, 503, 20500, "Service unavailable")
    it = await start_call(hub, alice.id, cid, "+8613800138000")
    await relay_sends(hub)  # Twilio answered 503: no call exists, so it is retried
    clock.advance(120)
    await relay_sends(hub)
    creates = [r for r in twilio.requests if r.path.endswith("/Calls.json")]
    assert len(creates) == 2
    async with hub.store.session() as session:
        placed = await session.get(Interaction, it.id)
    assert placed is not None and placed.provider_ref

    # A hub that died between marking the call as dialing and hearing Twilio's answer must not
    # ring the customer a second time: the agent is told to call again.
    async with hub.store.transaction() as session:
        row = await session.get(Interaction, it.id)
        assert row is not None
        row.state, row.disposition = "closed", "resolved"
        session.add(row)
    second = await start_call(hub, alice.id, cid, "+8613800138000")
    async with hub.store.transaction() as session:
        row = await session.get(Interaction, second.id)
        assert row is not None
        row.meta = {**row.meta, "dialing": True}
        session.add(row)
    await relay_sends(hub)
    assert len([r for r in twilio.requests if r.path.endswith("/Calls.json")]) == 2
    async with hub.store.session() as session:
        failed = await session.get(Interaction, second.id)
    assert failed is not None and "call again" in failed.meta["connect_error"]
    assert not failed.provider_ref


async def test_a_call_back_task_is_called_on_the_task_itself(
    client: Any, twilio: FakeTwilio
) -> None:
    hub = hub_of(client)
    alice = await agent_with_client(hub, "alice")
    cid = await customer(hub, "+8613800138000")
    async with hub.store.transaction() as session:
        task = Interaction(
            customer_id=cid,
            channel="voice",
            direction="out",
            subject="Call back: the caller hung up while waiting",
            customer_address="+8613800138000",
            meta={"callback_of": "x", "source": "twilio"},
        )
        session.add(task)
    from hub.actions.set_agent_status import set_agent_status

    await set_agent_status(hub, alice.id, "available")
    await route_interactions(hub)
    await accept_offer(hub, alice.id, task.id)
    await relay_sends(hub)
    assert not [r for r in twilio.requests if "/Calls" in r.path]  # accepting does not dial
    placed = await start_call(hub, alice.id, cid, "+8613800138000", task_id=task.id)
    assert placed.id == task.id
    await relay_sends(hub)
    await twilio.wait_for(lambda r: r.path.endswith("/Calls.json"))
    async with hub.store.session() as session:
        rows = (await session.exec(select(Interaction))).all()
    assert len(rows) == 1 and rows[0].provider_ref

"""Call controls from the console: the agent hangs up a Twilio call (through the outbox and the
recording Twilio server); the ended call then waits for the agent's disposition."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlmodel import select

from hub.actions.handle_offer import accept_offer
from hub.actions.hang_up import hang_up
from hub.actions.route_interactions import route_interactions
from hub.actions.wrap_up import wrap_up
from hub.app import create_app
from hub.errors import Conflict, Invalid
from hub.models import Interaction
from hub.relays import relay_sends
from tests.conftest import TEST_AUTH_TOKEN, TEST_PUBLIC_URL
from tests.support.fake_twilio import FakeTwilio, start_fake_twilio
from tests.support.hubs import add_agent, hub_of, login
from tests.support.twilio_signing import twilio_signature

pytestmark = pytest.mark.postgres


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with start_fake_twilio() as fake:
        yield fake


@pytest.fixture
async def client(
    db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any], twilio: FakeTwilio
) -> Any:
    settings = make_settings(database_url=db_url, twilio={"api_base_url": twilio.base_url})
    return await aiohttp_client(create_app(settings))


async def post(client: Any, path: str, form: dict[str, str]) -> int:
    sig = twilio_signature(TEST_AUTH_TOKEN, TEST_PUBLIC_URL + path, form)
    resp = await client.post(path, data=form, headers={"X-Twilio-Signature": sig})
    return int(resp.status)


async def test_the_agent_hangs_up_and_then_wraps_up(client: Any, twilio: FakeTwilio) -> None:
    hub = hub_of(client)
    alice = await add_agent(hub, "alice", available=True)
    bob = await add_agent(hub, "bob", available=True)
    form = {"CallSid": "CA9", "From": "+14155550142", "To": "+15550001111"}
    assert await post(client, "/webhooks/twilio/voice", form) == 200
    await route_interactions(hub)
    async with hub.store.session() as session:
        it = (await session.exec(select(Interaction))).one()
    holder = alice if it.offered_agent_id == alice.id else bob
    other = bob if holder is alice else alice
    await accept_offer(hub, holder.id, it.id)
    await relay_sends(hub)  # the bridge

    with pytest.raises(Conflict):
        await hang_up(hub, other.id, it.id)  # not another agent's call
    await hang_up(hub, holder.id, it.id)
    await relay_sends(hub)
    ended = await twilio.wait_for(
        lambda r: r.path.endswith("/Calls/CA9.json") and r.form.get("Status") == "completed"
    )
    assert ended.method == "POST"

    assert (
        await post(
            client,
            "/webhooks/twilio/voice/status",
            {"CallSid": "CA9", "CallStatus": "completed", "CallDuration": "42"},
        )
        == 200
    )
    token = await login(client, holder.username)
    state = await (
        await client.get("/api/agent/state", headers={"Authorization": f"Bearer {token}"})
    ).json()
    [item] = state["interactions"]
    assert item["interaction"]["state"] == "closed" and item["interaction"]["needs_wrapup"]

    await wrap_up(hub, holder.id, it.id, "resolved", "sorted on the call")
    async with hub.store.session() as session:
        done = await session.get(Interaction, it.id)
    assert done is not None and done.disposition == "resolved"


async def test_a_pbx_call_cannot_be_hung_up_from_the_console(client: Any) -> None:
    hub = hub_of(client)
    alice = await add_agent(hub, "alice")
    async with hub.store.transaction() as session:
        from hub.models import Customer

        c = Customer(name="PBX caller")
        session.add(c)
        await session.flush()
        call = Interaction(
            customer_id=c.id,
            channel="voice",
            state="assigned",
            queue_id="support",
            provider_ref="pbx-1",
            assigned_agent_id=alice.id,
            meta={"source": "cti"},
        )
        session.add(call)
    with pytest.raises(Invalid, match="phone system"):
        await hang_up(hub, alice.id, call.id)

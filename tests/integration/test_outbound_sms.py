"""Agent replies over SMS: sent once, retried on temporary errors, failed on permanent ones, and
delivery status callbacks move the message forward (never back)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from hub.actions.handle_offer import accept_offer
from hub.actions.route_interactions import route_interactions
from hub.actions.send_reply import send_reply
from hub.app import create_app
from hub.context import Hub
from hub.models import Message, OutboxEntry
from hub.relays import relay_sends
from tests.conftest import TEST_AUTH_TOKEN, TEST_PUBLIC_URL
from tests.support.clock import ManualClock
from tests.support.fake_twilio import FakeTwilio
from tests.support.hubs import add_agent, hub_of, post_sms
from tests.support.twilio_signing import twilio_signature

pytestmark = pytest.mark.postgres


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def client(
    db_url: str,  # first: the database must outlive the app (fixtures end in reverse order)
    aiohttp_client: Any,
    make_settings: Callable[..., Any],
    twilio: FakeTwilio,
    clock: ManualClock,
) -> Any:
    settings = make_settings(database_url=db_url, twilio={"api_base_url": twilio.base_url})
    return await aiohttp_client(create_app(settings, clock=clock))


async def assigned_reply(client: Any, body: str = "On its way") -> tuple[Hub, Message]:
    hub = hub_of(client)
    agent = await add_agent(hub, "alice", available=True)
    await post_sms(client, "SMin", "+14155550123", "where is my parcel?")
    await route_interactions(hub)
    async with hub.store.session() as session:
        from sqlmodel import select

        from hub.models import Interaction

        it = (await session.exec(select(Interaction))).one()
    await accept_offer(hub, agent.id, it.id)
    return hub, await send_reply(hub, agent.id, it.id, body)


async def stored(hub: Hub, message_id: str) -> Message:
    async with hub.store.session() as session:
        m = await session.get(Message, message_id)
    assert m is not None
    return m


async def test_a_reply_is_sent_once(client: Any, twilio: FakeTwilio) -> None:
    hub, message = await assigned_reply(client)
    assert await relay_sends(hub) == 1
    assert await relay_sends(hub) == 0
    assert len(twilio.messages()) == 1
    sent = await stored(hub, message.id)
    assert sent.status == "sent" and (sent.provider_ref or "").startswith("SM")


async def test_a_temporary_failure_is_retried_later(
    client: Any, twilio: FakeTwilio, clock: ManualClock
) -> None:
    hub, message = await assigned_reply(client)
    twilio.fail_next(1, status=503, code=20503, message="Service Unavailable")
    await relay_sends(hub)
    assert (await stored(hub, message.id)).status == "queued"
    assert await relay_sends(hub) == 0  # not due yet: backoff
    clock.advance(3)
    await relay_sends(hub)
    assert (await stored(hub, message.id)).status == "sent"
    assert len(twilio.messages()) == 2


async def test_throttling_waits_as_long_as_twilio_asked(
    client: Any, twilio: FakeTwilio, clock: ManualClock
) -> None:
    """A 429's Retry-After is the provider's word: retrying after our own 2 s would be throttled
    again (and counts against the account)."""
    hub, message = await assigned_reply(client)
    twilio.fail_next(1, status=429, code=20429, message="Too Many Requests", retry_after="30")
    await relay_sends(hub)
    clock.advance(3)
    assert await relay_sends(hub) == 0  # our own backoff (2 s) would have retried here
    clock.advance(28)
    await relay_sends(hub)
    assert (await stored(hub, message.id)).status == "sent"
    assert len(twilio.messages()) == 2


async def test_the_sender_is_woken_when_a_retry_is_due(client: Any, twilio: FakeTwilio) -> None:
    """Not up to a whole loop interval later (2 s): the tail of a burst's retries."""
    hub, _ = await assigned_reply(client)
    woken = hub.kicks.setdefault("sender", asyncio.Event())
    twilio.fail_next(1, status=429, code=20429, message="Too Many Requests", retry_after="1")
    await relay_sends(hub)
    woken.clear()  # send_reply kicked it
    await asyncio.wait_for(woken.wait(), timeout=5)


async def test_a_permanent_failure_fails_the_message_at_once(
    client: Any, twilio: FakeTwilio, clock: ManualClock
) -> None:
    hub, message = await assigned_reply(client)
    twilio.fail_next(
        1, status=400, code=21211, message="The 'To' number is not a valid phone number."
    )
    await relay_sends(hub)
    failed = await stored(hub, message.id)
    assert failed.status == "failed" and "21211" in failed.error
    clock.advance(3600)
    assert await relay_sends(hub) == 0
    async with hub.store.session() as session:
        from sqlmodel import select

        rows = (await session.exec(select(OutboxEntry).where(OutboxEntry.kind == "send"))).all()
        assert rows and all(o.done for o in rows)


async def post_status(client: Any, sid: str, status: str) -> int:
    form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 32}
    path = "/webhooks/twilio/sms/status"
    sig = twilio_signature(TEST_AUTH_TOKEN, TEST_PUBLIC_URL + path, form)
    resp = await client.post(path, data=form, headers={"X-Twilio-Signature": sig})
    return int(resp.status)


async def test_status_callbacks_move_the_message_forward_only(client: Any) -> None:
    hub, message = await assigned_reply(client)
    await relay_sends(hub)
    sid = (await stored(hub, message.id)).provider_ref or ""
    assert await post_status(client, sid, "delivered") == 200
    assert (await stored(hub, message.id)).status == "delivered"
    assert await post_status(client, sid, "sent") == 200  # late, out of order
    assert (await stored(hub, message.id)).status == "delivered"
    assert await post_status(client, "SMunknown", "delivered") == 200
    assert await post_status(client, sid, "exploded") == 422


async def test_a_reply_to_an_interaction_not_yours_is_refused(client: Any) -> None:
    from hub.errors import Conflict, Invalid

    hub, message = await assigned_reply(client)
    bob = await add_agent(hub, "bob")
    with pytest.raises(Conflict):
        await send_reply(hub, bob.id, message.interaction_id, "hi")
    alice_id = message.author_agent_id or ""
    with pytest.raises(Invalid):
        await send_reply(hub, alice_id, message.interaction_id, "   ")
    with pytest.raises(Invalid):
        await send_reply(hub, alice_id, message.interaction_id, "x" * 10_001)


async def test_a_burst_of_replies_drains_in_one_pass_in_order_per_conversation(
    client: Any, twilio: FakeTwilio
) -> None:
    """Before, one pass sent 20 and the rest waited for the next 2-second tick (10 per second)."""
    hub = hub_of(client)
    agent = await add_agent(hub, "alice", available=True)
    async with hub.store.transaction() as session:
        from hub.models import Agent

        row = await session.get(Agent, agent.id)
        assert row is not None
        row.capacity = {"sms": 3}
        session.add(row)
    phones = [f"+1415555012{n}" for n in range(3)]
    for n, phone in enumerate(phones):
        await post_sms(client, f"SMburst{n}", phone, "hello")
    await route_interactions(hub)
    from sqlmodel import select

    from hub.models import Interaction

    async with hub.store.session() as session:
        its = (await session.exec(select(Interaction))).all()
    for it in its:
        await accept_offer(hub, agent.id, it.id)
    for k in range(25):
        for it in its:
            await send_reply(hub, agent.id, it.id, f"part {k}")
    assert await relay_sends(hub) == 75
    sent = twilio.messages()
    assert len(sent) == 75
    for phone in phones:
        bodies = [r.form["Body"] for r in sent if r.form["To"] == phone]
        assert bodies == [f"part {k}" for k in range(25)]

"""Twilio Voice end to end: signed webhooks, TwiML parsed and checked, the accepted call bridged
through the (recording) Twilio REST API, abandoned calls, voicemail."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import select

from hub.actions.handle_offer import accept_offer
from hub.actions.hang_up import hang_up
from hub.actions.route_interactions import route_interactions
from hub.actions.wrap_up import wrap_up
from hub.app import create_app
from hub.errors import Conflict, Invalid
from hub.models import Agent, Customer, Interaction
from hub.relays import relay_sends
from tests.conftest import TEST_AUTH_TOKEN, TEST_PUBLIC_URL
from tests.support.fake_twilio import FakeTwilio
from tests.support.hubs import add_agent, hub_of, login
from tests.support.twilio_signing import twilio_signature

pytestmark = pytest.mark.postgres


@pytest.fixture
async def client(
    db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any], twilio: FakeTwilio
) -> Any:
    settings = make_settings(database_url=db_url, twilio={"api_base_url": twilio.base_url})
    return await aiohttp_client(create_app(settings))


async def post(client: Any, path: str, form: dict[str, str]) -> tuple[int, str]:
    sig = twilio_signature(TEST_AUTH_TOKEN, TEST_PUBLIC_URL + path, form)
    resp = await client.post(path, data=form, headers={"X-Twilio-Signature": sig})
    return resp.status, await resp.text()


def call(sid: str, caller: str = "+14155550142", name: str = "") -> dict[str, str]:
    return {
        "CallSid": sid,
        "From": caller,
        "To": "+15550001111",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "CallerName": name,
        "AccountSid": "AC" + "0" * 32,
    }


async def test_a_call_is_greeted_enqueued_announced_and_bridged(
    client: Any, twilio: FakeTwilio
) -> None:
    hub = hub_of(client)
    alice = await add_agent(hub, "alice", available=True)
    async with hub.store.transaction() as session:
        row = await session.get(Agent, alice.id)
        assert row is not None
        row.client_identity = "alice-browser"
        session.add(row)
    status, body = await post(client, "/webhooks/twilio/voice", call("CA1", name="<Say>hi</Say>"))
    assert status == 200
    root = ET.fromstring(body)
    assert root.find("Say") is not None
    enqueue = root.find("Enqueue")
    assert enqueue is not None and enqueue.text == "support"
    assert enqueue.get("waitUrl") == TEST_PUBLIC_URL + "/webhooks/twilio/voice/wait"

    status, body = await post(
        client,
        "/webhooks/twilio/voice/wait",
        {"CallSid": "CA1", "QueuePosition": "1", "QueueTime": "5"},
    )
    say = ET.fromstring(body).find("Say")
    assert say is not None and "number 1 in line" in (say.text or "")

    await route_interactions(hub)
    async with hub.store.session() as session:
        it = (await session.exec(select(Interaction))).one()
    await accept_offer(hub, alice.id, it.id)
    await relay_sends(hub)
    update = await twilio.wait_for(lambda r: r.path.endswith("/Calls/CA1.json"))
    dial = ET.fromstring(update.form["Twiml"]).find("Dial")
    assert dial is not None and dial.find("Client") is not None
    assert (dial.find("Client").text or "").strip() == "alice-browser"  # type: ignore[union-attr]

    status, _ = await post(
        client,
        "/webhooks/twilio/voice/status",
        {"CallSid": "CA1", "CallStatus": "completed", "CallDuration": "95"},
    )
    assert status == 200
    async with hub.store.session() as session:
        it = (await session.exec(select(Interaction))).one()
    assert it.state == "closed" and it.meta["talk_s"] == 95


async def test_a_caller_who_hangs_up_while_waiting_is_abandoned_with_a_callback(
    client: Any,
) -> None:
    hub = hub_of(client)
    await add_agent(hub, "bob", available=True)
    await post(client, "/webhooks/twilio/voice", call("CA2"))
    await post(client, "/webhooks/twilio/voice", call("CA2"))  # Twilio retry: no duplicate
    status, _ = await post(
        client, "/webhooks/twilio/voice/status", {"CallSid": "CA2", "CallStatus": "canceled"}
    )
    assert status == 200
    async with hub.store.session() as session:
        rows = (await session.exec(select(Interaction))).all()
    states = sorted((r.state, r.direction) for r in rows)
    assert states == [("abandoned", "in"), ("queued", "out")]
    callback = next(r for r in rows if r.direction == "out")
    assert callback.meta["callback_of"] == next(r.id for r in rows if r.direction == "in")


async def test_nobody_available_means_voicemail_stored_as_work(client: Any) -> None:
    status, body = await post(client, "/webhooks/twilio/voice", call("CA3"))
    root = ET.fromstring(body)
    record = root.find("Record")
    assert record is not None
    assert record.get("action") == TEST_PUBLIC_URL + "/webhooks/twilio/voice/recording"
    url = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE1"
    status, _ = await post(
        client,
        "/webhooks/twilio/voice/recording",
        {"CallSid": "CA3", "RecordingUrl": url, "RecordingDuration": "12"},
    )
    assert status == 200
    await post(
        client,
        "/webhooks/twilio/voice/status",
        {"CallSid": "CA3", "CallStatus": "completed", "CallDuration": "20"},
    )
    hub = hub_of(client)
    async with hub.store.session() as session:
        it = (await session.exec(select(Interaction))).one()
        from hub.models import Message

        messages = (await session.exec(select(Message))).all()
    assert it.state == "queued" and it.meta["voicemail"] is True
    assert any(m.meta.get("recording_url") == url for m in messages)


async def test_voice_webhooks_need_a_signature_and_valid_fields(client: Any) -> None:
    resp = await client.post("/webhooks/twilio/voice", data=call("CA4"))
    assert resp.status == 403
    status, _ = await post(
        client, "/webhooks/twilio/voice/status", {"CallSid": "CA4", "CallStatus": "exploded"}
    )
    assert status == 422


# Call controls from the console: the agent hangs up a Twilio call (through the outbox); the
# ended call then waits for the agent's disposition.


async def test_the_agent_hangs_up_and_then_wraps_up(client: Any, twilio: FakeTwilio) -> None:
    hub = hub_of(client)
    alice = await add_agent(hub, "alice", available=True)
    bob = await add_agent(hub, "bob", available=True)
    form = {"CallSid": "CA9", "From": "+14155550142", "To": "+15550001111"}
    assert (await post(client, "/webhooks/twilio/voice", form))[0] == 200
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

    status, _ = await post(
        client,
        "/webhooks/twilio/voice/status",
        {"CallSid": "CA9", "CallStatus": "completed", "CallDuration": "42"},
    )
    assert status == 200
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


async def test_the_wait_is_announced_in_the_language_of_the_callers_queue(
    db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any], twilio: FakeTwilio
) -> None:
    settings = make_settings(
        database_url=db_url,
        twilio={"api_base_url": twilio.base_url},
        queues=[
            {"id": "support", "name": "Support"},
            {"id": "hotline-de", "name": "Hotline", "language": "de"},
            {"id": "hotline-zh", "name": "热线", "language": "zh-CN"},
        ],
    )
    client = await aiohttp_client(create_app(settings))
    hub = hub_of(client)
    await add_agent(hub, "bob", queues=["support", "hotline-de", "hotline-zh"])
    await post(client, "/webhooks/twilio/voice", call("CA-lang"))
    spoken = {}
    for queue in ("support", "hotline-de", "hotline-zh"):
        async with hub.store.transaction() as session:
            it = (await session.exec(select(Interaction))).one()
            it.queue_id = queue
            session.add(it)
        status, body = await post(
            client, "/webhooks/twilio/voice/wait", {"CallSid": "CA-lang", "QueuePosition": "1"}
        )
        assert status == 200
        say = ET.fromstring(body).find("Say")
        assert say is not None
        spoken[queue] = (say.get("language"), (say.text or "").split(".")[0].split("。")[0])
    assert spoken == {
        "support": ("en-US", "You are number 1 in line"),
        "hotline-de": ("de-DE", "Sie sind an Position 1 der Warteschlange"),
        "hotline-zh": ("zh-CN", "您是下一位"),
    }
    status, _ = await post(
        client, "/webhooks/twilio/voice/wait", {"CallSid": "CA-lang", "QueuePosition": "x"}
    )
    assert status == 422

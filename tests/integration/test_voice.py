"""Twilio Voice end to end: signed webhooks, TwiML parsed and checked, the accepted call bridged
through the (recording) Twilio REST API, abandoned calls, voicemail."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlmodel import select

from hub.actions.handle_offer import accept_offer
from hub.actions.route_interactions import route_interactions
from hub.app import create_app
from hub.models import Agent, Interaction
from hub.relays import relay_sends
from tests.conftest import TEST_AUTH_TOKEN, TEST_PUBLIC_URL
from tests.support.fake_twilio import FakeTwilio, start_fake_twilio
from tests.support.hubs import add_agent, hub_of
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

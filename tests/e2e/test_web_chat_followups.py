"""Web chat after the conversation: a rating after the agent ended the chat, the transcript
emailed to the visitor (real aiosmtpd), and a message left while nobody could answer, answered
by email or SMS to the address the visitor gave (recording Twilio server)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from typing import Any

import pytest

from hub.app import create_app
from hub.models import Interaction
from tests.support.agent_client import AgentClient
from tests.support.fake_twilio import FakeTwilio
from tests.support.hubs import add_agent, hub_of, login
from tests.support.smtp_server import RecordingSmtpServer
from tests.support.visitor_client import VisitorClient


@pytest.fixture
def smtp() -> Iterator[RecordingSmtpServer]:
    server = RecordingSmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def client(
    aiohttp_client: Any,
    make_settings: Callable[..., Any],
    smtp: RecordingSmtpServer,
    twilio: FakeTwilio,
) -> Any:
    settings = make_settings(
        run_background=True,
        routing={"tick_s": 0.2, "wrapup_s": 0},
        twilio={"api_base_url": twilio.base_url},
        email={
            "smtp": {
                "host": smtp.host,
                "port": smtp.port,
                "starttls": False,
                "from_addr": "Support <support@shop.example>",
            }
        },
    )
    c = await aiohttp_client(create_app(settings))
    await add_agent(hub_of(c), "alice", display_name="Alice A.")
    return c


async def console(client: Any, *, available: bool) -> AgentClient:
    agent = AgentClient()
    await agent.connect(str(client.make_url("/")), await login(client, "alice"))
    if available:
        await agent.call("status", {"status": "available"})
    return agent


async def test_rating_after_the_agent_ended_it_and_the_transcript_by_email(
    client: Any, smtp: RecordingSmtpServer
) -> None:
    agent = await console(client, available=True)
    v = VisitorClient()
    await v.connect(str(client.make_url("/")), name="Vic", email="vic@example.com")
    try:
        await v.next("history")
        await v.call("message", {"body": "Where is my parcel?"})
        offer = await agent.next("offer")
        it_id = offer["interaction"]["id"]
        await agent.call("accept", {"interaction_id": it_id})
        await agent.call("reply", {"interaction_id": it_id, "body": "It ships today."})
        await v.next("message")
        await agent.call("wrapup", {"interaction_id": it_id, "disposition": "resolved"})
        await v.next("closed")
        # The agent ended the chat first; the visitor's rating and transcript request still count.
        ack = await v.call("close", {"rating": 4, "transcript": True})
        assert ack["ok"] and ack["transcript_to"] == "vic@example.com"
        await smtp.wait_for(1)
        mail = message_from_bytes(smtp.messages[0].content, policy=policy.default)
        assert smtp.messages[0].rcpt_tos == ("vic@example.com",)
        assert str(mail["Subject"]).startswith("Your chat transcript")
        text = mail.get_content()
        assert "You: Where is my parcel?" in text and "Alice A.: It ships today." in text
        assert "wrote:" not in text  # a transcript quotes nothing
        again = await v.call("close", {"transcript": True})
        assert again["transcript_to"] is None  # sent once
        async with hub_of(client).store.session() as session:
            it = await session.get(Interaction, it_id)
        assert it is not None and it.meta["csat"] == 4
    finally:
        await v.close()
        await agent.close()


@pytest.mark.parametrize("contact", ["vic@example.com", "+1 415 555 0199"])
async def test_a_message_left_after_hours_is_answered_by_email_or_sms(
    client: Any, smtp: RecordingSmtpServer, twilio: FakeTwilio, contact: str
) -> None:
    v = VisitorClient()
    await v.connect(str(client.make_url("/")), name="Vic", email=contact)  # "email or phone"
    try:
        history = await v.next("history")
        assert history["available"] is False  # nobody logged in: the widget takes a message
        assert (await v.call("message", {"body": "Call me back about my order"}))["ok"]
        await v.close()  # the visitor leaves
        agent = await console(client, available=True)
        try:
            offer = await agent.next("offer")
            it_id = offer["interaction"]["id"]
            await agent.call("accept", {"interaction_id": it_id})
            ack = await agent.call("reply", {"interaction_id": it_id, "body": "We called you."})
            assert ack["ok"] and ack["message"]["channel"] in ("email", "sms")
        finally:
            await agent.close()
        if "@" in contact:
            await smtp.wait_for(1)
            assert smtp.messages[0].rcpt_tos == ("vic@example.com",)
            assert b"We called you." in smtp.messages[0].content
        else:
            sent = await twilio.wait_for(lambda r: r.path.endswith("/Messages.json"))
            assert sent.form["To"] == "+14155550199" and sent.form["Body"] == "We called you."
    finally:
        await v.close()

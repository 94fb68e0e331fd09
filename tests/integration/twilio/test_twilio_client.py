"""The twilio client wrapper against the local recording Twilio (nothing leaves the machine)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from channels.base import OutboundMessage, SendError
from channels.twilio_client import (
    close_twilio_client,
    connect_call,
    hangup_call,
    make_twilio_client,
    retry_after_s,
    send_sms,
    validate_twilio_signature,
)
from channels.twilio_sms import TwilioSmsChannel
from channels.twilio_voice import dial_agent_twiml
from hub.settings import TwilioSettings
from tests.support.fake_twilio import FakeTwilio, start_fake_twilio

CALLBACK = "https://hub.example.com/webhooks/twilio/sms/status"
CALL = "CA" + "c" * 32


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with start_fake_twilio() as server:
        yield server


@pytest.fixture
async def client(fake: FakeTwilio) -> AsyncIterator[Client]:
    c = make_twilio_client(
        TwilioSettings(
            account_sid=fake.account_sid, auth_token=fake.auth_token, api_base_url=fake.base_url
        )
    )
    yield c
    await close_twilio_client(c)


async def test_send_sms_posts_the_form_with_basic_auth(fake: FakeTwilio, client: Client) -> None:
    result = await send_sms(
        client, from_="+15550001111", to="+14155550100", body="Hi é", status_callback=CALLBACK
    )
    assert result.provider_ref.startswith("SM") and result.status == "sent"
    [r] = fake.requests
    assert (r.method, r.path) == ("POST", f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json")
    assert r.auth == (fake.account_sid, fake.auth_token)
    assert r.form == {
        "From": "+15550001111",
        "To": "+14155550100",
        "Body": "Hi é",
        "StatusCallback": CALLBACK,
    }


async def test_no_status_callback_is_sent_when_none(fake: FakeTwilio, client: Client) -> None:
    await send_sms(client, from_="+1555", to="+1415", body="x", status_callback=None)
    assert "StatusCallback" not in fake.messages()[0].form


async def test_the_sms_channel_sends_from_the_default_number(
    fake: FakeTwilio, client: Client
) -> None:
    channel = TwilioSmsChannel(client, default_from="+15550009999", status_callback=CALLBACK)
    sending = asyncio.create_task(channel.send(OutboundMessage("sms", to="+1415", body="yo")))
    recorded = await fake.wait_for(lambda r: r.form.get("Body") == "yo")
    assert (recorded.form["From"], recorded.form["StatusCallback"]) == ("+15550009999", CALLBACK)
    assert (await sending).provider_ref.startswith("SM")


@pytest.mark.parametrize("code", [21211, 21610, 21614])
async def test_invalid_numbers_are_permanent_failures(
    fake: FakeTwilio, client: Client, code: int
) -> None:
    fake.fail_next(1, status=400, code=code, message="The 'To' number is not valid")
    with pytest.raises(SendError) as err:
        await send_sms(client, from_="+1555", to="+1", body="x", status_callback=None)
    assert err.value.permanent and err.value.code == str(code)


@pytest.mark.parametrize(("status", "code"), [(500, 20500), (503, 20503), (429, 20429)])
async def test_server_errors_and_throttling_are_temporary(
    fake: FakeTwilio, client: Client, status: int, code: int
) -> None:
    fake.fail_next(1, status=status, code=code)
    with pytest.raises(SendError) as err:
        await send_sms(client, from_="+1555", to="+1415", body="x", status_callback=None)
    assert not err.value.permanent and err.value.code == str(code)
    retried = await send_sms(client, from_="+1555", to="+1415", body="x", status_callback=None)
    assert retried.provider_ref.startswith("SM")
    assert len(fake.messages()) == 2


async def test_throttling_carries_twilios_retry_after(fake: FakeTwilio, client: Client) -> None:
    fake.fail_next(1, status=429, code=20429, message="Too Many Requests", retry_after="7")
    fake.fail_next(1, status=429, code=20429, message="Too Many Requests")
    with pytest.raises(SendError) as told:
        await send_sms(client, from_="+1555", to="+1415", body="x", status_callback=None)
    with pytest.raises(SendError) as untold:
        await send_sms(client, from_="+1555", to="+1415", body="x", status_callback=None)
    assert (told.value.retry_after, untold.value.retry_after) == (7.0, None)


def test_retry_after_is_seconds_or_an_http_date() -> None:
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert retry_after_s("120", now) == 120.0
    assert retry_after_s("Mon, 23 Nov 2026 09:00:30 GMT", now) == 30.0
    assert retry_after_s("Mon, 23 Nov 2026 08:00:00 GMT", now) == 0.0  # already past
    assert retry_after_s("soon", now) is None
    assert retry_after_s(None, now) is None


async def test_wrong_credentials_get_twilios_401(fake: FakeTwilio) -> None:
    c = make_twilio_client(
        TwilioSettings(account_sid=fake.account_sid, auth_token="nope", api_base_url=fake.base_url)
    )
    try:
        with pytest.raises(SendError) as err:
            await send_sms(c, from_="+1555", to="+1415", body="x", status_callback=None)
    finally:
        await close_twilio_client(c)
    assert err.value.code == "20003" and err.value.permanent
    assert fake.requests[0].auth == (fake.account_sid, "nope")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_twilio_is_a_temporary_failure() -> None:
    c = make_twilio_client(TwilioSettings(api_base_url=f"http://127.0.0.1:{_closed_port()}"))
    try:
        with pytest.raises(SendError) as err:
            await send_sms(c, from_="+1555", to="+1415", body="x", status_callback=None)
    finally:
        await close_twilio_client(c)
    assert not err.value.permanent


async def test_a_stalled_twilio_times_out_as_a_temporary_failure() -> None:
    async def stall(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", stall)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    c = make_twilio_client(TwilioSettings(api_base_url=str(server.make_url(""))), timeout_s=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(SendError) as err:
            await send_sms(c, from_="+1555", to="+1415", body="x", status_callback=None)
    finally:
        await close_twilio_client(c)
        await server.close()
    assert not err.value.permanent and time.monotonic() - started < 5


async def test_connect_call_updates_the_call_with_dial_twiml(
    fake: FakeTwilio, client: Client
) -> None:
    twiml = dial_agent_twiml(client_identity="alice", phone=None, caller_id=None)
    await connect_call(client, CALL, twiml)
    r = await fake.wait_for(lambda r: r.path.endswith(f"/Calls/{CALL}.json"))
    assert r.form == {"Twiml": twiml} and r.auth == (fake.account_sid, fake.auth_token)


async def test_hangup_call_completes_the_call(fake: FakeTwilio, client: Client) -> None:
    await hangup_call(client, CALL)
    [r] = fake.requests
    assert r.path.endswith(f"/Calls/{CALL}.json") and r.form == {"Status": "completed"}


async def test_connect_call_maps_failures(fake: FakeTwilio, client: Client) -> None:
    fake.fail_next(1, status=404, code=20404, message="The requested resource was not found")
    with pytest.raises(SendError) as err:
        await connect_call(client, CALL, "<Response/>")
    assert err.value.permanent
    fake.fail_next(1, status=502, code=20500)
    with pytest.raises(SendError) as err:
        await connect_call(client, CALL, "<Response/>")
    assert not err.value.permanent


async def test_closing_the_client_closes_its_session(fake: FakeTwilio) -> None:
    c = make_twilio_client(TwilioSettings(api_base_url=fake.base_url))
    session = c.http_client.session
    await close_twilio_client(c)
    assert session.closed


URL = "https://hub.example.com/webhooks/twilio/sms"
PARAMS = {"MessageSid": "SM1", "From": "+14155550100", "To": "+1555", "Body": "hi & <b>"}


def test_a_signature_computed_like_twilio_validates() -> None:
    signature = RequestValidator("tok").compute_signature(URL, PARAMS)
    assert validate_twilio_signature("tok", URL, PARAMS, signature)


@pytest.mark.parametrize(
    ("token", "url", "params"),
    [
        ("tok", URL, {**PARAMS, "Body": "hi & <b>!"}),
        ("tok", URL, {**PARAMS, "Extra": "1"}),
        ("tok", URL.replace("/sms", "/voice"), PARAMS),
        ("other", URL, PARAMS),
    ],
)
def test_a_tampered_request_fails(token: str, url: str, params: dict[str, str]) -> None:
    signature = RequestValidator("tok").compute_signature(URL, PARAMS)
    assert not validate_twilio_signature(token, url, params, signature)


@pytest.mark.parametrize("signature", [None, ""])
def test_a_missing_signature_fails(signature: str | None) -> None:
    assert not validate_twilio_signature("tok", URL, PARAMS, signature)

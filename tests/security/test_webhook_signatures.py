"""Every webhook, every way a signature can be wrong: 403 and nothing stored.

Twilio signs public base URL + path + sorted form; the hub sits behind a TLS-terminating proxy
here (tests reach it over plain HTTP on 127.0.0.1, it is configured as https://hub.test.example),
so a signature over the URL the hub *sees* must fail. An exact replay is what Twilio's own retries
look like: 200 and stored once. The CTI webhook's HMAC carries a timestamp: stale or reused → 403.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import SQLModel, text

from channels.cti import cti_signature
from hub.app import create_app
from tests.conftest import TEST_AUTH_TOKEN, TEST_PUBLIC_URL
from tests.support.hubs import hub_of, post_sms
from tests.support.twilio_signing import sms_form, twilio_signature

CALL = {
    "CallSid": "CA1",
    "From": "+14155550142",
    "To": "+15550001111",
    "CallStatus": "ringing",
    "Direction": "inbound",
    "AccountSid": "AC" + "0" * 32,
}
TWILIO_WEBHOOKS: dict[str, dict[str, str]] = {
    "/webhooks/twilio/sms": sms_form("SMnew", "+14155550177", "hello"),
    "/webhooks/twilio/sms/status": {"MessageSid": "SMout", "MessageStatus": "delivered"},
    "/webhooks/twilio/voice": {**CALL, "CallSid": "CAnew"},
    "/webhooks/twilio/voice/wait": {"CallSid": "CA1", "QueuePosition": "1", "QueueTime": "5"},
    "/webhooks/twilio/voice/status": {"CallSid": "CA1", "CallStatus": "completed"},
    "/webhooks/twilio/voice/recording": {
        "CallSid": "CA1",
        "RecordingUrl": "https://api.twilio.com/rec/RE1",
        "RecordingDuration": "7",
    },
}


def _bad_signatures(client: Any, path: str, form: dict[str, str]) -> dict[str, str | None]:
    public = TEST_PUBLIC_URL + path
    seen_by_hub = str(client.make_url(path))  # http://127.0.0.1:port/... behind the proxy
    other_path = (
        "/webhooks/twilio/voice" if path != "/webhooks/twilio/voice" else "/webhooks/twilio/sms"
    )
    return {
        "missing": None,
        "empty": "",
        "garbage": "not-a-signature",
        "other auth token": twilio_signature("someone-elses-token", public, form),
        "url the hub sees (proxy)": twilio_signature(TEST_AUTH_TOKEN, seen_by_hub, form),
        "http instead of https": twilio_signature(
            TEST_AUTH_TOKEN, public.replace("https://", "http://"), form
        ),
        "replayed from another path": twilio_signature(
            TEST_AUTH_TOKEN, TEST_PUBLIC_URL + other_path, form
        ),
        "replayed with another body": twilio_signature(
            TEST_AUTH_TOKEN, public, {**form, "CallSid": "CAother", "Body": "other"}
        ),
        "replayed with a field removed": twilio_signature(
            TEST_AUTH_TOKEN,
            public,
            {k: v for k, v in form.items() if k != "CallSid"}
            if "CallSid" in form
            else {k: v for k, v in form.items() if k != "MessageSid"},
        ),
    }


async def fingerprint(client: Any) -> dict[str, list[Any]]:
    """Every row of every table (auth tokens aside): 'nothing stored' means this is unchanged."""
    out: dict[str, list[Any]] = {}
    async with hub_of(client).store.session() as session:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in {"auth_tokens", "alembic_version"}:
                continue
            rows = await session.exec(text(f"SELECT * FROM {table.name}"))  # type: ignore[call-overload]
            out[table.name] = sorted(repr(tuple(r)) for r in rows.all())
    return out


@pytest.fixture
async def client(aiohttp_client: Any, make_settings: Callable[..., Any]) -> Any:
    settings = make_settings(cti_token="cti-token", cti={"hmac_secret": "cti-hmac"})
    c = await aiohttp_client(create_app(settings))
    # Something for the status webhooks to change if they wrongly accepted a request.
    assert (await post_sms(c, "SMold", "+14155550100", "earlier")).status == 200
    path = "/webhooks/twilio/voice"
    signed = twilio_signature(TEST_AUTH_TOKEN, TEST_PUBLIC_URL + path, CALL)
    assert (await c.post(path, data=CALL, headers={"X-Twilio-Signature": signed})).status == 200
    return c


@pytest.mark.parametrize("path", sorted(TWILIO_WEBHOOKS))
async def test_every_bad_twilio_signature_is_403_and_stores_nothing(client: Any, path: str) -> None:
    form = TWILIO_WEBHOOKS[path]
    before = await fingerprint(client)
    for case, signature in _bad_signatures(client, path, form).items():
        headers = {} if signature is None else {"X-Twilio-Signature": signature}
        resp = await client.post(path, data=form, headers=headers)
        assert resp.status == 403, f"{path}: {case} -> {resp.status}"
        assert (await resp.json())["error"] == "forbidden"
    assert await fingerprint(client) == before
    good = twilio_signature(TEST_AUTH_TOKEN, TEST_PUBLIC_URL + path, form)
    resp = await client.post(path, data=form, headers={"X-Twilio-Signature": good})
    assert resp.status == 200, await resp.text()


async def test_a_signature_over_a_query_string_covers_it(client: Any) -> None:
    form = sms_form("SMq", "+14155550178", "query")
    path = "/webhooks/twilio/sms?tenant=a"
    signed = twilio_signature(TEST_AUTH_TOKEN, TEST_PUBLIC_URL + path, form)
    tampered = "/webhooks/twilio/sms?tenant=b"
    before = await fingerprint(client)
    resp = await client.post(tampered, data=form, headers={"X-Twilio-Signature": signed})
    assert resp.status == 403
    assert await fingerprint(client) == before
    resp = await client.post(path, data=form, headers={"X-Twilio-Signature": signed})
    assert resp.status == 200


async def test_an_exact_replay_is_a_retry_stored_once(client: Any) -> None:
    for _ in range(3):
        assert (await post_sms(client, "SMretry", "+14155550179", "once")).status == 200
    rows = await fingerprint(client)
    assert sum("SMretry" in row for row in rows["messages"]) == 1


async def test_a_public_url_with_a_path_prefix_behind_a_proxy(
    aiohttp_client: Any, make_settings: Callable[..., Any]
) -> None:
    """The proxy serves the hub under https://example.org/crm/ and strips /crm."""
    base = "https://example.org/crm"
    c = await aiohttp_client(create_app(make_settings(public_base_url=base + "/")))
    path = "/webhooks/twilio/sms"
    form = sms_form("SMp", "+14155550180", "prefixed")
    assert (
        await c.post(
            path,
            data=form,
            headers={
                "X-Twilio-Signature": twilio_signature(
                    TEST_AUTH_TOKEN, TEST_PUBLIC_URL + path, form
                )
            },
        )
    ).status == 403
    signed = twilio_signature(TEST_AUTH_TOKEN, base + path, form)
    assert (await c.post(path, data=form, headers={"X-Twilio-Signature": signed})).status == 200


def _cti_body(call_id: str) -> bytes:
    return json.dumps(
        {"event": "newCall", "direction": "in", "callId": call_id, "from": "+14155550100"}
    ).encode()


async def test_every_bad_cti_signature_is_403_and_stores_nothing(client: Any) -> None:
    url = "/webhooks/cti/cti-token"
    body = _cti_body("c1")
    now = int(time.time())
    stale = str(now - 3600)
    future = str(now + 3600)
    fresh = str(now)
    cases = {
        "missing": None,
        "garbage": "nonsense",
        "no timestamp": f"v1={cti_signature('cti-hmac', fresh, body)}",
        "wrong secret": f"t={fresh},v1={cti_signature('other', fresh, body)}",
        "stale": f"t={stale},v1={cti_signature('cti-hmac', stale, body)}",
        "from the future": f"t={future},v1={cti_signature('cti-hmac', future, body)}",
        "another body": f"t={fresh},v1={cti_signature('cti-hmac', fresh, _cti_body('c2'))}",
        "timestamp swapped": f"t={now - 1},v1={cti_signature('cti-hmac', fresh, body)}",
    }
    before = await fingerprint(client)
    for case, header in cases.items():
        headers = {"Content-Type": "application/json"}
        if header is not None:
            headers["X-CTI-Signature"] = header
        resp = await client.post(url, data=body, headers=headers)
        assert resp.status == 403, f"{case} -> {resp.status}"
    wrong_token = await client.post(
        "/webhooks/cti/guess",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-CTI-Signature": f"t={fresh},v1={cti_signature('cti-hmac', fresh, body)}",
        },
    )
    assert wrong_token.status == 401  # the contract: a bad CTI token is 401
    assert await fingerprint(client) == before

    good = {
        "Content-Type": "application/json",
        "X-CTI-Signature": f"t={fresh},v1={cti_signature('cti-hmac', fresh, body)}",
    }
    assert (await client.post(url, data=body, headers=good)).status == 200
    after_one = await fingerprint(client)
    replay = await client.post(url, data=body, headers=good)
    assert replay.status == 403 and "replay" in (await replay.json())["message"]
    assert await fingerprint(client) == after_one

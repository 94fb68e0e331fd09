"""Oversized and malformed input at every edge: 413 for large bodies, 4xx for broken JSON, forms,
multipart and headers, a Socket.IO message over the limit disconnects; never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import socketio

from hub.app import create_app
from tests.security.test_authorization_matrix import NOPE, ROUTES
from tests.support.hubs import add_agent, hub_of, login
from tests.support.visitor_client import VisitorClient

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def concrete(template: str) -> str:
    return template.format(
        agent_id=NOPE,
        queue_id=NOPE,
        customer_id=NOPE,
        merge_id=NOPE,
        interaction_id=NOPE,
        attachment_id=NOPE,
        token="cti-token",
        name="x",
        filename="x",
    )


@pytest.fixture
async def client(aiohttp_client: Any, make_settings: Callable[..., Any]) -> Any:
    settings = make_settings(cti_token="cti-token", max_body_bytes=64 * 1024)
    c = await aiohttp_client(create_app(settings))
    await add_agent(hub_of(c), "ada", role="admin")
    return c


async def test_every_body_over_the_limit_is_413(client: Any) -> None:
    auth = {"Authorization": f"Bearer {await login(client, 'ada')}"}
    big = b"{" + b'"a":' * 40_000 + b"}"  # > 64 KB
    for method, template in sorted(ROUTES):
        if method not in WRITE_METHODS or method == "DELETE":
            continue
        for content_type in ("application/json", "application/x-www-form-urlencoded"):
            resp = await client.request(
                method,
                concrete(template),
                data=big,
                headers={**auth, "Content-Type": content_type},
            )
            assert resp.status == 413, f"{method} {template} ({content_type}): {resp.status}"


TAKE_NO_BODY = {
    ("POST", "/api/auth/logout"),
    ("POST", "/api/agents/{agent_id}/revoke-tokens"),
    ("POST", "/api/customers/{customer_id}/backoffice"),
    ("POST", "/api/merges/{merge_id}/undo"),
    ("DELETE", "/api/customers/{customer_id}"),
}
BROKEN_JSON = [
    b"{nope",
    b"\xff\xfe\x00",
    b"[1, 2, 3]",
    b'"just a string"',
    b"null",
    b"[" * 50_000 + b"]" * 50_000,  # deeper than the parser's recursion limit
    b'{"a": ' * 20_000 + b"1" + b"}" * 20_000,
    b'{"username": "\\ud800", "password": "x"}',
    b"NaN",
]


async def test_broken_json_is_4xx_on_every_json_route(client: Any) -> None:
    auth = {"Authorization": f"Bearer {await login(client, 'ada')}"}
    for method, template in sorted(ROUTES):
        if method not in WRITE_METHODS or template.startswith("/webhooks/twilio"):
            continue
        for body in BROKEN_JSON:
            resp = await client.request(
                method,
                concrete(template),
                data=body,
                headers={**auth, "Content-Type": "application/json"},
            )
            where = f"{method} {template} {body[:20]!r}: {resp.status}"
            assert resp.status < 500, where
            if (method, template) not in TAKE_NO_BODY:
                assert resp.status >= 400, where


BROKEN_FORMS = [
    ("application/x-www-form-urlencoded", b"Body=%ZZ&From=%"),
    ("application/x-www-form-urlencoded", b"\xff\xfe=\xff"),
    ("application/x-www-form-urlencoded", b"&&&===&"),
    ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data\r\n\r\n"),
    ("multipart/form-data", b"no boundary at all"),
    ("multipart/form-data; boundary=a", b"--a\r\n\r\n--a--"),
    ("text/plain", b"Body=hi"),
]


async def test_broken_forms_on_webhooks_are_4xx(client: Any) -> None:
    for method, template in sorted(ROUTES):
        if not template.startswith("/webhooks/"):
            continue
        for content_type, body in BROKEN_FORMS:
            resp = await client.request(
                method,
                concrete(template),
                data=body,
                headers={"Content-Type": content_type, "X-Twilio-Signature": "x"},
            )
            assert 400 <= resp.status < 500, f"{template} {content_type}: {resp.status}"


async def test_non_ascii_credentials_in_headers_are_refused_not_500(
    aiohttp_client: Any, make_settings: Callable[..., Any]
) -> None:
    """A str compare_digest raises TypeError on non-ASCII: found by the fuzzer, fixed."""
    settings = make_settings(cti_token="cti-token", cti={"hmac_secret": "hmac"})
    c = await aiohttp_client(create_app(settings))
    resp = await c.post(
        "/webhooks/cti/cti-token",
        json={"event": "newCall"},
        headers={"X-CTI-Signature": "t=1,v1=\u00e9\u00e9".encode().decode("latin-1")},
    )
    assert resp.status == 403
    resp = await c.post("/webhooks/cti/t\u00f6ken", json={"event": "newCall"})
    assert resp.status == 401
    for auth in ("Bearer \u00e9\u00e9\u00e9", "Bearer " + "x" * 5000, "Basic abc", "Bearer"):
        got = await c.get(
            "/api/agent/state", headers={"Authorization": auth.encode().decode("latin-1")}
        )
        assert got.status == 401


async def test_bad_query_parameters_are_422(client: Any) -> None:
    auth = {"Authorization": f"Bearer {await login(client, 'ada')}"}
    for url in (
        "/api/customers?limit=abc",
        "/api/customers?limit=-5",
        "/api/customers?limit=99999999999999999999999",
        "/api/reports?from=yesterday",
        "/api/reports?from=2026-13-40",
        "/api/reports?by=moon",
        "/api/reports?from=2026-01-01&to=2020-01-01",
        "/api/calls?agent_id=" + "x" * 5000,
        "/api/customers?q=" + "%00" * 100,
    ):
        resp = await client.get(url, headers=auth)
        assert resp.status in (200, 400, 422), f"{url[:60]}: {resp.status}"


async def test_a_visitor_with_a_non_ascii_identity_claim_still_chats(client: Any) -> None:
    visitor = VisitorClient()
    await visitor.connect(
        str(client.make_url("/")),
        token="a.b.\u00e9",
        identity={"id": "c1", "expires": 2**40, "hash": "\u00e9" * 64},
    )
    try:
        await visitor.next("session")
        assert (await visitor.call("message", {"body": "hello"}))["ok"] is True
    finally:
        await visitor.close()


async def test_odd_socket_payloads_get_an_error_ack(client: Any) -> None:
    visitor = VisitorClient()
    await visitor.connect(str(client.make_url("/")))
    await visitor.next("history")
    try:
        for payload in (
            None,
            5,
            "text",
            [1, 2],
            {"body": 5},
            {"body": ["x"]},
            {"body": "x" * 100_000},
        ):
            ack = await visitor.call("message", payload)
            assert ack["ok"] is False, payload
        for event in ("upload", "read", "typing", "position", "close"):
            ack = await visitor.sio.call(event, [{"x": 1}], namespace="/chat", timeout=10)
            assert isinstance(ack, dict), event
        assert visitor.sio.connected
    finally:
        await visitor.close()


async def test_a_socket_message_over_the_limit_disconnects(client: Any) -> None:
    limit = hub_of(client).settings.chat.max_upload_bytes + 65_536
    sio = socketio.AsyncClient(reconnection=False)
    gone = asyncio.Event()
    sio.on("disconnect", lambda *_: gone.set(), namespace="/chat")
    await sio.connect(str(client.make_url("/")), namespaces=["/chat"], transports=["websocket"])
    try:
        await sio.emit("message", {"body": "x" * (limit + 10)}, namespace="/chat")
        async with asyncio.timeout(10):
            await gone.wait()
    finally:
        await sio.disconnect()

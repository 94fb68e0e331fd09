"""The back-office lookup: cached answers in the 360 view; a slow or broken ERP never delays
storing or routing a contact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.app import create_app
from hub.backoffice import refresh_backoffice
from hub.models import BackofficeRecord
from tests.support.hubs import add_agent, hub_of, login, post_sms


class Erp:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.delay = 0.0
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append(await request.json())
        if self.delay:
            await asyncio.wait_for(self.release.wait(), timeout=self.delay)
        return web.json_response({"balance": 12.5, "open_tickets": 1, "orders": [{"ref": "ERP-1"}]})


@pytest.fixture
async def erp() -> AsyncIterator[tuple[Erp, str]]:
    fake = Erp()
    app = web.Application()
    app.router.add_post("/lookup", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("/lookup"))
    fake.release.set()
    await server.close()


async def test_lookup_is_cached_and_shown(
    aiohttp_client: Any, make_settings: Callable[..., Any], erp: tuple[Erp, str]
) -> None:
    fake, url = erp
    client = await aiohttp_client(
        create_app(make_settings(customers={"backoffice_url": url, "backoffice_timeout_s": 2}))
    )
    hub = hub_of(client)
    await add_agent(hub, "alice")
    await post_sms(client, "SMb1", "+14155550111", "hi")
    headers = {"Authorization": f"Bearer {await login(client, 'alice')}"}
    found = await client.get("/api/customers", params={"q": "+14155550111"}, headers=headers)
    cid = (await found.json())["customers"][0]["id"]
    assert await refresh_backoffice(hub, cid)
    assert not await refresh_backoffice(hub, cid)  # cached within the TTL
    assert len(fake.calls) == 1
    assert fake.calls[0]["identities"] == [{"kind": "phone", "value": "+14155550111"}]
    view = await (await client.get(f"/api/customers/{cid}", headers=headers)).json()
    assert view["backoffice"]["data"]["balance"] == 12.5


async def test_a_slow_back_office_never_delays_a_webhook(
    aiohttp_client: Any, make_settings: Callable[..., Any], erp: tuple[Erp, str]
) -> None:
    fake, url = erp
    fake.delay = 30.0  # the ERP hangs until the test ends
    client = await aiohttp_client(
        create_app(
            make_settings(
                run_background=True, customers={"backoffice_url": url, "backoffice_timeout_s": 0.5}
            )
        )
    )
    hub = hub_of(client)
    async with asyncio.timeout(5):
        resp = await post_sms(client, "SMb2", "+14155550112", "hi")
    assert resp.status == 200
    # The lookup ran in the background, timed out, and recorded why.
    async with asyncio.timeout(10):
        while True:
            async with hub.store.session() as session:
                from sqlmodel import select

                record = (await session.exec(select(BackofficeRecord))).first()
            if record is not None:
                break
            await asyncio.sleep(0.05)  # written by a background consumer: poll
    assert "did not answer" in record.error

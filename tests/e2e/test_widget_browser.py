"""The embeddable widget in Debian's chromium: a host page on one origin embeds the widget from
the hub on another; a visitor chats with an agent, reloads, and hostile text stays text.

CRMHUB_SCREENSHOTS=1 saves the widget's states to docs/images/ (used by docs/webchat.md)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.app import create_app
from tests.e2e.test_console_browser import browser  # noqa: F401  (fixture)
from tests.support.agent_client import AgentClient
from tests.support.hubs import add_agent, hub_of, login

pytestmark = pytest.mark.browser
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


async def shot(page: Any, name: str) -> None:
    if os.environ.get("CRMHUB_SCREENSHOTS"):
        IMAGES.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(IMAGES / f"widget-{name}.png"))


@pytest.fixture
async def host_site(client: Any) -> AsyncIterator[str]:
    hub_url = str(client.make_url("/")).rstrip("/")
    html = (
        f'<!doctype html><html lang="en"><head><title>Shop</title>'
        f"<style>button{{background:red!important}} *{{font-size:40px}}</style></head>"
        f'<body><h1>Example shop</h1><script src="{hub_url}/widget.js" async></script>'
        f"</body></html>"
    )

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    server = TestServer(app, host="localhost")  # another origin than the hub's 127.0.0.1
    await server.start_server()
    yield str(server.make_url("/"))
    await server.close()


@pytest.fixture
async def client(aiohttp_client: Any, make_settings: Callable[..., Any]) -> Any:
    settings = make_settings(run_background=True, routing={"tick_s": 0.2})
    return await aiohttp_client(create_app(settings))


PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2a1a4c30000000049454e44ae426082"
)


async def test_widget_chat_from_another_origin(
    client: Any,
    host_site: str,
    browser: Any,  # noqa: F811
) -> None:
    await add_agent(hub_of(client), "alice", display_name="Alice")
    agent = AgentClient()
    await agent.connect(str(client.make_url("/")), await login(client, "alice"))
    await agent.call("status", {"status": "available"})
    page = await browser.new_page(viewport={"width": 390, "height": 760})  # a phone
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        await page.goto(host_site)
        await page.click("#crmhub-chat >> .launcher")
        await shot(page, "prechat")
        await page.fill("#crmhub-chat >> .pre input >> nth=0", "Vera")
        await page.fill("#crmhub-chat >> .pre input >> nth=1", "vera@example.com")
        await page.click("#crmhub-chat >> .start")
        await page.wait_for_selector("#crmhub-chat >> .compose textarea")
        assert not await page.locator("#crmhub-chat >> .pre").is_visible()
        await page.fill("#crmhub-chat >> .compose textarea", "<img src=x onerror=window.p=1>hi")
        await page.click("#crmhub-chat >> .send")
        offer = await agent.next("offer")
        await agent.call("accept", {"interaction_id": offer["interaction"]["id"]})
        await agent.call(
            "reply",
            {
                "interaction_id": offer["interaction"]["id"],
                "body": "<script>window.p=2</script>Hello Vera",
            },
        )
        await page.wait_for_selector("#crmhub-chat >> li.out:has-text('Hello Vera')")
        await agent.call("read", {"interaction_id": offer["interaction"]["id"]})
        await page.wait_for_selector("#crmhub-chat >> li.seen:has-text('Seen')")
        await shot(page, "conversation")
        texts = await page.locator("#crmhub-chat >> .log li:not(.seen)").all_text_contents()
        assert texts == [
            "<img src=x onerror=window.p=1>hi",
            "<script>window.p=2</script>Hello Vera",
        ]
        assert await page.evaluate("window.p === undefined")

        await page.reload()
        await page.click("#crmhub-chat >> .launcher")
        await page.wait_for_selector("#crmhub-chat >> li.out:has-text('Hello Vera')")
        restored = await page.locator("#crmhub-chat >> .log li:not(.seen)").all_text_contents()
        assert restored == texts
        status = await page.locator("#crmhub-chat >> .status").text_content()
        assert "Alice" in (status or "")

        # An image from the visitor reaches the agent as an attachment (type from its bytes);
        # a program renamed to .png is refused.
        png = PNG_1X1
        await page.set_input_files(
            "#crmhub-chat >> input.file",
            files=[{"name": "../../photo.png", "mimeType": "image/png", "buffer": png}],
        )
        sent = await agent.next("message.created")
        while not sent["body"].startswith("📎"):  # earlier messages are in the inbox first
            sent = await agent.next("message.created")
        assert sent["body"] == "📎 photo.png"
        [attachment] = sent["attachments"]
        assert (attachment["content_type"], attachment["size"]) == ("image/png", len(png))
        await page.wait_for_selector("#crmhub-chat >> li.in:has-text('photo.png')")
        await page.set_input_files(
            "#crmhub-chat >> input.file",
            files=[{"name": "cute.png", "mimeType": "image/png", "buffer": b"MZ\x90\x00evil"}],
        )
        await page.wait_for_selector("#crmhub-chat >> .status:has-text('only images')")
        await shot(page, "attachment")
        assert errors == []
    finally:
        await page.close()
        await agent.close()

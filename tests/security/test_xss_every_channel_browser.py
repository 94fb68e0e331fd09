"""One XSS corpus through every inbound channel (SMS, a voice caller name, an HTML email, a web
chat name and message) into every staff view (offers, conversation tabs, the 360 timeline, the
supervisor board and its peek) and, as an agent's reply, into the visitor's widget: rendered as
inert text in Debian's chromium, nothing executes, no active element appears, long words wrap."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from channels.email_parse import parse_email
from hub.actions.receive_contact import receive_contact
from hub.app import create_app
from hub.models import Agent
from tests.conftest import TEST_AUTH_TOKEN, TEST_PUBLIC_URL
from tests.e2e.test_console_browser import browser  # noqa: F401  (fixture)
from tests.e2e.test_console_workspace_browser import log_in
from tests.support.hubs import PASSWORD, add_agent, hub_of, post_sms
from tests.support.twilio_signing import twilio_signature
from tests.support.visitor_client import VisitorClient

pytestmark = pytest.mark.browser

CORPUS = [
    "<script>window.pwned=1</script>",
    '<img src=x onerror="window.pwned=1">',
    '<svg/onload="window.pwned=1">',
    '<a href="javascript:window.pwned=1">click</a>',
    '"><iframe src="javascript:window.pwned=1">',
    "\u202egnp.exe",
    "W" * 2000,
]
TEXT = " ".join(CORPUS)
ACTIVE = (
    "img[src='x'], svg[onload], iframe, a[href^='javascript:'], "
    "[onerror], [onload], [onclick], script:not([src])"
)


async def assert_inert(page: Any) -> None:
    assert await page.evaluate("window.pwned === undefined")
    assert await page.locator(ACTIVE).count() == 0
    # A 2,000-character word wraps instead of pushing the page sideways.
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"page overflows by {overflow}px"


def hostile_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = f'"{CORPUS[1]}" <mallory@example.com>'
    msg["To"] = "support@example.com"
    msg["Subject"] = CORPUS[2] + " Invoice " + CORPUS[5]
    msg.set_content("plain part is empty on purpose")
    msg.add_alternative(
        f"<html><body><p>{CORPUS[0]}</p>{CORPUS[3]}<p>{CORPUS[6]}</p>"
        f"<img src=x onerror=window.pwned=1></body></html>",
        subtype="html",
    )
    msg.set_param("charset", "utf-8")
    return msg.as_bytes()


@pytest.fixture
async def client(aiohttp_client: Any, make_settings: Callable[..., Any]) -> Any:
    settings = make_settings(
        run_background=True,
        routing={"tick_s": 0.2, "offer_timeout_s": 120},
        chat={"allowed_origins": ["*"]},
    )
    return await aiohttp_client(create_app(settings))


@pytest.fixture
async def host_site(client: Any) -> AsyncIterator[str]:
    hub_url = str(client.make_url("/")).rstrip("/")
    html = (
        '<!doctype html><html lang="en"><head><title>Shop</title></head><body>'
        f'<script src="{hub_url}/widget.js" async></script></body></html>'
    )

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    server = TestServer(app, host="localhost")
    await server.start_server()
    yield str(server.make_url("/"))
    await server.close()


async def test_the_corpus_through_every_channel_into_every_view(
    client: Any,
    host_site: str,
    browser: Any,  # noqa: F811
) -> None:
    hub = hub_of(client)
    await add_agent(hub, "alice", display_name="Alice")
    bob = await add_agent(hub, "bob", display_name="Bob")
    async with hub.store.transaction() as session:
        row = await session.get(Agent, bob.id)
        assert row is not None
        row.client_identity = "bob-browser"  # a voice endpoint: calls go to him
        row.capacity = {"voice": 1}
        session.add(row)
    await add_agent(hub, "sue", role="supervisor", display_name="Sue")
    errors: list[str] = []
    console = await browser.new_page(viewport={"width": 1280, "height": 900})
    board = await browser.new_page(viewport={"width": 1280, "height": 900})
    widget = await browser.new_page(viewport={"width": 390, "height": 760})
    phone = await browser.new_page(viewport={"width": 1280, "height": 900})
    for page in (console, board, widget, phone):
        page.on("pageerror", lambda e: errors.append(str(e)))
    visitor = VisitorClient()
    try:
        # Every channel, before the agent is available: they all wait as offers.
        assert (await post_sms(client, "SMx", "+14155550123", TEXT)).status == 200
        form = {
            "CallSid": "CAx",
            "From": "+14155550124",
            "To": "+15550001111",
            "CallStatus": "ringing",
            "Direction": "inbound",
            "CallerName": CORPUS[1] + CORPUS[5],
            "AccountSid": "AC" + "0" * 32,
        }
        path = "/webhooks/twilio/voice"
        signature = twilio_signature(TEST_AUTH_TOKEN, TEST_PUBLIC_URL + path, form)
        call = await client.post(path, data=form, headers={"X-Twilio-Signature": signature})
        assert call.status == 200
        await receive_contact(hub, parse_email(hostile_mail()))

        await widget.goto(host_site)
        await widget.click("#crmhub-chat >> .launcher")
        await widget.fill("#crmhub-chat >> .pre input >> nth=0", CORPUS[1] + "Vera")
        await widget.fill("#crmhub-chat >> .pre input >> nth=1", "vera@example.com")
        await widget.click("#crmhub-chat >> .start")
        await widget.fill("#crmhub-chat >> .compose textarea", TEXT)
        await widget.click("#crmhub-chat >> .send")

        # A call excludes other work (routing's exclusive channels): Bob takes calls only.
        await log_in(phone, str(client.make_url("/console/")), "bob")
        await phone.click("#go-available")
        await phone.wait_for_selector(".offer")
        assert "<img src=x" in (await phone.locator(".offer").text_content() or "")
        await assert_inert(phone)

        await log_in(console, str(client.make_url("/console/")), "alice")
        await console.click("#go-available")
        await console.wait_for_selector(".offer >> nth=2")  # sms, email, chat
        offers = await console.locator(".offer").all_text_contents()
        assert any("<img src=x" in o for o in offers)  # shown, as text
        await assert_inert(console)

        for _ in range(3):
            await console.locator(".offer .accept").first.click()
        await console.wait_for_selector(".tab >> nth=2")
        for n in range(3):
            await console.locator(".tab").nth(n).click()
            await assert_inert(console)
        transcript = await console.locator("body").text_content() or ""
        assert "<script>window.pwned=1</script>" in transcript

        # The agent answers the chat with the corpus: the visitor's widget shows it as text.
        chat_tab = console.locator(".tab", has_text="Vera")
        await chat_tab.click()
        active = console.locator(".conversation:not([hidden])")
        await active.locator(".reply-body").fill(TEXT)
        await active.locator("button.reply").click()
        await widget.wait_for_selector("#crmhub-chat >> li.out:has-text('gnp.exe')")
        await assert_inert(widget)

        await board.goto(str(client.make_url("/supervisor/")))
        await board.fill("#username", "sue")
        await board.fill("#password", PASSWORD)
        await board.click("#login-button")
        await board.wait_for_selector("#connection:text('live')")
        items = board.locator(".work-item")
        await items.nth(2).wait_for()
        for n in range(3):
            await items.nth(n).locator(".peek").click()
            await board.locator("#peek-messages li").first.wait_for()
            await assert_inert(board)
        assert errors == []
    finally:
        await visitor.close() if visitor.sio.connected else None
        for page in (console, board, widget, phone):
            await page.close()

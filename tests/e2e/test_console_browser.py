"""The /console/ page in Debian's chromium (Playwright): log in, go available, see the offer with
the customer's name, tier and history, accept, reply; customer text is shown, never executed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest

from hub.app import create_app
from hub.models import Customer, CustomerIdentity, Interaction, Message
from tests.support.fake_twilio import start_fake_twilio
from tests.support.hubs import PASSWORD, add_agent, hub_of, post_sms

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
HOSTILE_NAME = '<img src=x onerror="window.pwned=1">Vera'


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from pathlib import Path

    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run scripts/setup.sh --test")
    async with async_playwright() as p:
        b = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        await b.close()


async def seed(client: Any) -> None:
    hub = hub_of(client)
    async with hub.store.transaction() as session:
        vera = Customer(name=HOSTILE_NAME, tier="vip", lifetime_value=182_000)
        session.add(vera)
        session.add(CustomerIdentity(customer_id=vera.id, kind="phone", value="+14155550101"))
        past = Interaction(
            customer_id=vera.id,
            channel="email",
            state="closed",
            subject="Invoice question",
            disposition="resolved",
            created_at=hub.now() - timedelta(days=3),
        )
        session.add(past)
        session.add(
            Message(interaction_id=past.id, channel="email", direction="in", body="old mail")
        )
    await add_agent(hub, "alice")


async def test_agent_works_an_sms_in_the_browser(
    aiohttp_client: Any, make_settings: Callable[..., Any], browser: Any
) -> None:
    async with start_fake_twilio() as twilio:
        settings = make_settings(
            run_background=True, twilio={"api_base_url": twilio.base_url}, routing={"tick_s": 0.2}
        )
        client = await aiohttp_client(create_app(settings))
        await seed(client)
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(str(client.make_url("/console/")))
        await page.fill("#username", "alice")
        await page.fill("#password", PASSWORD)
        await page.click("#login-button")
        await page.wait_for_selector("#connection:text('connected')")
        await page.click("#go-available")
        await page.wait_for_selector("#status-text:text('available')")

        await post_sms(client, "SMbrowser", "+14155550101", "<script>alert(1)</script> help")
        offer = page.locator(".offer")
        await offer.wait_for()
        assert await offer.locator(".customer-name").text_content() == HOSTILE_NAME
        assert await offer.locator(".tier").text_content() == "vip"
        assert "Invoice question" in (await offer.locator(".history").text_content() or "")
        assert "<script>" in (await offer.locator(".last-message").text_content() or "")
        await offer.locator(".accept").click()

        conversation = page.locator(".conversation")
        await conversation.wait_for()
        await conversation.locator(".reply-body").fill("We are on it.")
        await conversation.locator(".reply").click()
        sent = await twilio.wait_for(lambda r: r.path.endswith("/Messages.json"))
        assert sent.form["Body"] == "We are on it."
        await page.wait_for_selector(".messages li.out:has-text('We are on it.')")
        assert await page.evaluate("window.pwned === undefined")
        assert errors == []
        await page.close()

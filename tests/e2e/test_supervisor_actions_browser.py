"""The supervisor board's actions in Debian's chromium: a read-only live peek at a conversation,
moving it to another agent, and the report page with its CSV download."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hub.actions.set_agent_status import set_agent_status
from hub.app import create_app
from tests.e2e.test_console_browser import browser  # noqa: F401  (fixture)
from tests.support.agent_client import AgentClient
from tests.support.fake_twilio import start_fake_twilio
from tests.support.hubs import PASSWORD, add_agent, hub_of, login, post_sms

pytestmark = pytest.mark.browser
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
HOSTILE = '<img src=x onerror="window.p=1">where is my parcel?'


@pytest.fixture
async def client(aiohttp_client: Any, make_settings: Callable[..., Any]) -> AsyncIterator[Any]:
    async with start_fake_twilio() as twilio:
        settings = make_settings(
            run_background=True,
            twilio={"api_base_url": twilio.base_url},
            routing={"tick_s": 0.2, "offer_timeout_s": 60},
        )
        c = await aiohttp_client(create_app(settings))
        hub = hub_of(c)
        await add_agent(hub, "sam", role="supervisor", display_name="Sam")
        await add_agent(hub, "alice", display_name="Alice", available=True)
        bob = await add_agent(hub, "bob", display_name="Bob")
        await set_agent_status(hub, bob.id, "away", "training")
        yield c


async def shot(page: Any, name: str) -> None:
    if os.environ.get("CRMHUB_SCREENSHOTS"):
        IMAGES.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(IMAGES / name), full_page=True)


async def test_peek_move_and_report(client: Any, browser: Any) -> None:  # noqa: F811
    alice, bob = AgentClient(), AgentClient()
    await alice.connect(str(client.make_url("/")), await login(client, "alice"))
    await bob.connect(str(client.make_url("/")), await login(client, "bob"))
    page = await browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        await post_sms(client, "SMp1", "+14155550131", HOSTILE)
        offer = await alice.next("offer")
        it_id = offer["interaction"]["id"]
        assert (await alice.call("accept", {"interaction_id": it_id}))["ok"]

        await page.goto(str(client.make_url("/supervisor/")))
        await page.fill("#username", "sam")
        await page.fill("#password", PASSWORD)
        await page.click("#login-button")
        await page.wait_for_selector("#connection:text('live')")
        work = page.locator(f".work-item[data-interaction='{it_id}']")
        await work.wait_for()

        # Peek: the conversation so far, then live, rendered as text.
        await work.locator(".peek").click()
        await page.locator("#peek-messages li", has_text="where is my parcel?").wait_for()
        assert await page.locator("#peek-messages li").first.text_content() == HOSTILE
        await alice.call("reply", {"interaction_id": it_id, "body": "Let me check, one moment."})
        await page.locator("#peek-messages li.out", has_text="Let me check").wait_for()
        await shot(page, "supervisor-peek.png")

        # Move it to Bob.
        await work.locator(".move-to").select_option(label="Bob (away)")
        # The board is rebuilt on every change; a rebuild between choosing and clicking Move
        # used to reset the choice, and the click then moved nothing.
        await page.evaluate("document.activeElement && document.activeElement.blur()")
        await alice.call("status", {"status": "away", "reason": "coffee"})
        alice_row = page.locator("#agents tbody tr", has_text="Alice")
        await alice_row.locator("td", has_text="coffee").wait_for()
        await work.locator(".move").click()
        got = await bob.next("interaction.assigned")
        assert got["interaction"]["id"] == it_id
        gone = await alice.next("interaction.updated")
        assert gone["id"] == it_id
        bob_row = page.locator("#agents tbody tr", has_text="Bob")
        await bob_row.locator(f".work-item[data-interaction='{it_id}']").wait_for()

        # Reports: today's figures and the CSV download.
        await page.click("#show-report")
        first_row = page.locator("#report tbody tr").first
        await first_row.wait_for()
        cells = await first_row.locator("td").all_text_contents()
        assert cells[1] == "1" and cells[2] == "1"  # one offered, one handled today
        async with page.expect_download() as download_info:
            await page.click("#report-csv")
        download = await download_info.value
        text = Path(await download.path()).read_text()
        assert text.splitlines()[0].startswith("key,label,offered,handled")
        assert len(text.splitlines()) == 2
        await shot(page, "supervisor-report.png")

        assert await page.evaluate("window.p === undefined")
        assert errors == []
    finally:
        await page.close()
        await alice.close()
        await bob.close()

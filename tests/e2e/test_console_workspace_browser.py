"""The agent console's main flows in Debian's chromium: offers with a countdown accepted by
keyboard, several conversations in tabs, the editable 360 panel reaching another console live,
canned responses, transfer with a note, required wrap-up, customer search, Chinese texts; and an
XSS corpus in names, messages, email subjects, notes and tags that must render as text."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from hub.app import create_app
from hub.models import Agent, Customer, CustomerIdentity, CustomerNote, Interaction, Message, Order
from tests.e2e.test_console_browser import browser  # noqa: F401  (fixture)
from tests.support.fake_twilio import start_fake_twilio
from tests.support.hubs import PASSWORD, add_agent, hub_of, post_sms

pytestmark = pytest.mark.browser

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
XSS = [
    "<script>window.pwned=1</script>",
    '<img src=x onerror="window.pwned=1">',
    '<svg onload="window.pwned=1"></svg>',
    "javascript:window.pwned=1",
    "\u202etxt.exe",
    "W" * 3000,
]
HOSTILE_NAME = '<img src=x onerror="window.pwned=1">Vera Lin'
HOSTILE_SUBJECT = '<svg onload="window.pwned=1">Invoice</svg>'


async def seed(client: Any) -> tuple[str, str]:
    hub = hub_of(client)
    now = hub.now()
    async with hub.store.transaction() as session:
        vera = Customer(
            name=HOSTILE_NAME, tier="vip", lifetime_value=182_000, tags=[XSS[0]], company="Lin & Co"
        )
        li = Customer(name="李雷", tier="standard", lifetime_value=300)
        session.add_all([vera, li])
        await session.flush()
        session.add(CustomerIdentity(customer_id=vera.id, kind="phone", value="+14155550101"))
        session.add(CustomerIdentity(customer_id=li.id, kind="phone", value="+14155550102"))
        session.add(
            Order(
                customer_id=vera.id, amount=1234.5, currency="USD", product=XSS[2], ordered_at=now
            )
        )
        session.add(CustomerNote(customer_id=vera.id, body=XSS[1], author_name="ops"))
        past = Interaction(
            customer_id=vera.id,
            channel="email",
            state="closed",
            queue_id="support",
            subject=HOSTILE_SUBJECT,
            disposition="resolved",
            created_at=now - timedelta(days=3),
        )
        session.add(past)
        session.add(
            Message(
                interaction_id=past.id,
                channel="email",
                direction="in",
                subject=HOSTILE_SUBJECT,
                body=XSS[3] + " " + XSS[4] + " " + XSS[5],
            )
        )
    await add_agent(hub, "alice", display_name="Alice")
    bob = await add_agent(hub, "bob", display_name="Bob")
    async with hub.store.transaction() as session:
        row = await session.get(Agent, bob.id)
        assert row is not None
        row.client_identity = "bob-browser"
        session.add(row)
    return vera.id, li.id


async def log_in(page: Any, url: str, username: str) -> None:
    await page.goto(url)
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-button")
    await page.wait_for_selector("#connection:text('connected')")


async def shot(page: Any, name: str) -> None:
    if os.environ.get("CRMHUB_SCREENSHOTS"):
        IMAGES.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(IMAGES / name), full_page=True)


async def test_agent_console_main_flows(
    aiohttp_client: Any,
    make_settings: Callable[..., Any],
    browser: Any,  # noqa: F811
) -> None:
    async with start_fake_twilio() as twilio:
        settings = make_settings(
            run_background=True,
            twilio={"api_base_url": twilio.base_url},
            routing={"tick_s": 0.2, "offer_timeout_s": 60},
        )
        client = await aiohttp_client(create_app(settings))
        hub = hub_of(client)
        vera_id, _ = await seed(client)
        url = str(client.make_url("/console/"))
        errors: list[str] = []
        alice = await browser.new_page(viewport={"width": 1400, "height": 1000})
        bob = await browser.new_page(viewport={"width": 1200, "height": 900})
        for page in (alice, bob):
            page.on("pageerror", lambda e: errors.append(str(e)))
        await log_in(alice, url, "alice")
        await log_in(bob, url, "bob")
        await alice.click("#go-available")
        await alice.wait_for_selector("#status-text:text('available')")

        # Two customers write; the VIP's offer comes first, with a running countdown.
        await post_sms(client, "SMa", "+14155550102", "你好，我的订单在哪里？")
        await post_sms(client, "SMb", "+14155550101", XSS[0] + " where is my refund?")
        await alice.wait_for_selector(".offer >> nth=1")
        first = alice.locator(".offer").first
        assert await first.locator(".customer-name").text_content() == HOSTILE_NAME
        countdown = await first.locator(".countdown").text_content()
        assert countdown and countdown.endswith("s") and int(countdown[:-1]) > 50
        assert HOSTILE_SUBJECT in (await first.locator(".history").text_content() or "")
        assert "where is my refund" in (await first.locator(".last-message").text_content() or "")
        assert await alice.evaluate("document.body.classList.contains('ringing')")
        await shot(alice, "console-offer.png")

        # Alt+A accepts the top offer; the other is accepted by clicking.
        await alice.keyboard.press("Alt+a")
        await alice.wait_for_selector(".tab >> nth=0")
        await alice.locator(".offer .accept").click()
        await alice.wait_for_selector(".tab >> nth=1")
        assert await alice.locator(".offer").count() == 0
        assert not await alice.evaluate("document.body.classList.contains('ringing')")
        load = await alice.locator("#load").text_content()
        assert "sms 2/3" in (load or "")

        # Tabs: the last accepted is active; switch to the VIP with Alt+1.
        await alice.keyboard.press("Alt+1")
        vera_tab = alice.locator(".conversation:not([hidden])")
        assert await vera_tab.locator(".customer-name").text_content() == HOSTILE_NAME
        panel = vera_tab.locator(".c360")
        await panel.locator(".c-orders td.num:text('1234.50 USD')").wait_for()
        assert XSS[2] in (await panel.locator(".c-orders").text_content() or "")
        assert XSS[1] in (await panel.locator(".c-notes").text_content() or "")
        assert XSS[0] in (await panel.locator(".c-tags").text_content() or "")
        assert "+14155550101" in (await panel.locator(".c-identities").text_content() or "")
        # The timeline opens the old email's transcript.
        old = panel.locator(".open-interaction", has_text="Invoice")
        await old.click()
        transcript = panel.locator(".transcript li").first
        await transcript.wait_for()
        assert XSS[3] in (await transcript.text_content() or "")

        # Bob has Vera's customer page open (search by phone in another format).
        await bob.click("#show-customers")
        await bob.fill("#search-q", "(415) 555-0101")
        await bob.click("#search-button")
        await bob.locator(".open-customer").first.click()
        bob_panel = bob.locator("#customer-page .c360")
        await bob_panel.locator(".c-name").wait_for()
        assert await bob_panel.locator(".c-name").text_content() == HOSTILE_NAME

        # Alice tags the customer and sets a preference: Bob's page shows it without reloading.
        await panel.locator(".tag-input").fill("gold")
        await panel.locator(".tag-form button").click()
        await bob_panel.locator(".chip:has-text('gold')").wait_for()
        await panel.locator(".pref-key").fill("contact_hours")
        await panel.locator(".pref-value").fill("after 18:00")
        await panel.locator(".pref-form button").click()
        await bob_panel.locator(".c-prefs dd:text('after 18:00')").wait_for()
        # Bob adds a note: Alice's panel (she holds the conversation) shows it live.
        await bob_panel.locator(".note-input").fill("Called about the refund twice")
        await bob_panel.locator(".note-form button").click()
        await panel.locator(".c-notes li:has-text('Called about the refund twice')").wait_for()
        await shot(bob, "console-customer-page.png")

        # Canned response with placeholders, sent with Ctrl+Enter.
        box = vera_tab.locator(".reply-body")
        await box.click()
        await box.type("/hel")
        await vera_tab.locator(".canned li").first.wait_for()
        await box.press("Enter")
        assert (await box.input_value()).startswith("Hello <img")
        assert "this is Alice" in await box.input_value()
        await box.press("Control+Enter")
        sent = await twilio.wait_for(lambda r: r.path.endswith("/Messages.json"))
        assert "this is Alice" in sent.form["Body"]
        await vera_tab.locator(".messages li.out .delivery").first.wait_for()
        await shot(alice, "console-workspace.png")

        # Wrap-up needs a disposition from the configured list.
        await vera_tab.locator(".wrapup").click()
        assert await vera_tab.count() == 1  # the browser refused: no disposition chosen
        await vera_tab.locator(".disposition").select_option("resolved")
        await vera_tab.locator(".wrapup-note").fill("refund confirmed")
        await vera_tab.locator(".wrapup").click()
        await alice.wait_for_selector(".tab >> nth=1", state="detached")

        # Transfer the other conversation with a note.
        li_tab = alice.locator(".conversation:not([hidden])")
        await li_tab.locator(".transfer summary").click()
        await li_tab.locator(".transfer-queue").select_option("support")
        await li_tab.locator(".transfer-note").fill("Speaks Chinese only")
        await li_tab.locator(".transfer-button").click()
        await alice.wait_for_selector(".tab", state="detached")
        async with hub.store.session() as session:
            notes = (await session.exec(select(Message).where(Message.direction == "note"))).all()
            vera = await session.get(Customer, vera_id)
        assert [n.body for n in notes] == ["Speaks Chinese only"]
        assert vera is not None and "gold" in vera.tags
        assert vera.preferences["contact_hours"] == "after 18:00"

        # Bob calls Vera from her customer page: Twilio rings Bob's browser client, which dials
        # her; the call opens as a tab and, once over, waits for Bob's disposition.
        await bob_panel.locator(".call-number").first.click()
        create = await twilio.wait_for(lambda r: r.path.endswith("/Calls.json"))
        assert create.form["To"] == "client:bob-browser"
        await bob.click("#show-work")
        call_tab = bob.locator(".conversation:not([hidden])")
        await call_tab.locator(".hangup").wait_for()
        async with hub.store.session() as session:
            placed = (
                await session.exec(select(Interaction).where(Interaction.direction == "out"))
            ).one()
        from hub.actions.end_call import end_call

        await end_call(hub, placed.provider_ref or "", "completed", 30)
        await call_tab.locator(".ended").wait_for()
        await call_tab.locator(".disposition").select_option("resolved")
        await call_tab.locator(".wrapup").click()
        await call_tab.wait_for(state="detached")

        # A PBX call pops Vera's card as a ringing card (answered on the phone), gone at hangup.
        cti = f"/webhooks/cti/{settings.cti_token}"
        base = {"callId": "pbx-1", "from": "+14155550101", "to": "+15550000", "direction": "in"}
        resp = await client.post(cti, data={**base, "event": "newCall", "user[]": "alice"})
        assert resp.status == 200
        ringing = alice.locator(".ringing-call")
        await ringing.wait_for()
        assert await ringing.locator(".customer-name").text_content() == HOSTILE_NAME
        assert await ringing.locator(".accept").count() == 0
        resp = await client.post(cti, data={**base, "event": "hangup", "cause": "cancel"})
        assert resp.status == 200
        await ringing.wait_for(state="detached")

        # Simplified Chinese texts.
        await alice.click("#lang")
        assert await alice.locator("#go-available").text_content() == "空闲"
        assert await alice.locator("#show-customers").text_content() == "客户"
        assert await alice.locator("#status-text").text_content() == "空闲"
        assert await alice.locator("#connection").text_content() == "已连接"
        await shot(alice, "console-zh.png")
        await alice.click("#lang")

        assert await alice.evaluate("window.pwned === undefined")
        assert await bob.evaluate("window.pwned === undefined")
        assert errors == []
        await alice.close()
        await bob.close()

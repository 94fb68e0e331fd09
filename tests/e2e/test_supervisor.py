"""The supervisor board: role check on /supervisor, pushed aggregates, the page in chromium."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import socketio
from sqlmodel import select

from hub.app import create_app
from hub.app_keys import SUPERVISORS
from hub.models import Agent, Customer, Interaction, Message
from tests.e2e.test_console_browser import browser  # noqa: F401  (fixture)
from tests.support.hubs import PASSWORD, add_agent, hub_of, login, post_sms

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


@pytest.fixture
async def client(aiohttp_client: Any, make_settings: Callable[..., Any]) -> Any:
    c = await aiohttp_client(
        create_app(make_settings(run_background=True, routing={"tick_s": 0.2}))
    )
    await add_agent(hub_of(c), "sam", role="supervisor", display_name="Sam")
    await add_agent(
        hub_of(c), "alice", display_name='<img src=x onerror="window.p=1">Alice', available=True
    )
    return c


async def connect(client: Any, token: str) -> tuple[socketio.AsyncClient, asyncio.Queue[Any]]:
    sio = socketio.AsyncClient(reconnection=False)
    boards: asyncio.Queue[Any] = asyncio.Queue()

    async def on_board(data: Any) -> None:
        boards.put_nowait(data)

    sio.on("board", on_board, namespace="/supervisor")
    await sio.connect(
        str(client.make_url("/")),
        namespaces=["/supervisor"],
        auth={"token": token},
        transports=["websocket"],
        wait_timeout=5,
    )
    return sio, boards


async def test_agents_cannot_open_the_supervisor_namespace(client: Any) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect(client, await login(client, "alice"))


async def test_the_board_is_pushed_when_something_changes(client: Any) -> None:
    sio, boards = await connect(client, await login(client, "sam"))
    try:
        first = await asyncio.wait_for(boards.get(), 10)
        support = next(q for q in first["queues"] if q["id"] == "support")
        assert support["waiting"] == 0 and support["agents_available"] == 1
        await post_sms(client, "SMsup", "+14155550123", "hello")
        async with asyncio.timeout(10):
            while True:  # pushed boards until the offer (with its priority) shows
                board = await boards.get()
                offered = [w for w in board["waiting"] if w["state"] == "offered"]
                if offered:
                    break
        assert offered[0]["queue_id"] == "support" and "waited" in offered[0]["why"]
        assert len(board["hourly"]) == 24
        # A message changes no queue or agent figure, but the floor's traffic: pushed too.
        await post_sms(client, "SMsup2", "+14155550123", "are you there?")
        async with asyncio.timeout(10):
            while True:
                board = await boards.get()
                sms = [t for t in board["traffic"] if t["channel"] == "sms"]
                if sms and sms[0]["in_today"] == 2:
                    break
        assert sms[0]["in_recent"] == 2 and sms[0]["out_today"] == 0
    finally:
        await sio.disconnect()


async def test_a_ticking_clock_alone_pushes_no_board(
    aiohttp_client: Any, make_settings: Callable[..., Any]
) -> None:
    """The times in state and since the oldest unanswered message tick every second; pushing
    the board for them alone would push every tick to every supervisor."""
    now = [datetime(2026, 11, 23, 10, 0, tzinfo=UTC)]
    client = await aiohttp_client(create_app(make_settings(), clock=lambda: now[0]))
    hub = hub_of(client)
    await add_agent(hub, "sam", role="supervisor")
    alice = await add_agent(hub, "alice", available=True)
    sio, boards = await connect(client, await login(client, "sam"))
    try:
        await asyncio.wait_for(boards.get(), 10)
        customer = Customer(name="Visitor")
        chat = Interaction(
            customer_id=customer.id, channel="chat", state="assigned", assigned_agent_id=alice.id
        )

        def line(text: str) -> Message:
            return Message(
                interaction_id=chat.id,
                channel="chat",
                direction="in",
                body=text,
                created_at=now[0] - timedelta(seconds=30),
            )

        async with hub.store.transaction() as s:
            s.add_all([customer, chat, line("hello")])
        supervisors = client.app[SUPERVISORS]
        await supervisors.push()
        pushed = await asyncio.wait_for(boards.get(), 10)
        (mine,) = [a for a in pushed["agents"] if a["id"] == alice.id]
        assert (mine["awaiting_reply"], mine["unanswered_s"]) == (1, 30)
        now[0] += timedelta(seconds=5)
        await supervisors.push()  # only the clocks moved: nothing to push
        async with hub.store.transaction() as s:
            s.add(line("anyone?"))
        await supervisors.push()
        pushed = await asyncio.wait_for(boards.get(), 10)
        assert pushed["traffic"][0]["in_today"] == 2  # not the push the clock would have made
    finally:
        await sio.disconnect()


async def agents_of(hub: Any) -> list[Agent]:
    async with hub.store.session() as s:
        return list((await s.exec(select(Agent))).all())


@pytest.mark.browser
async def test_the_board_in_the_browser(client: Any, browser: Any) -> None:  # noqa: F811
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        await page.goto(str(client.make_url("/supervisor/")))
        await page.fill("#username", "sam")
        await page.fill("#password", PASSWORD)
        await page.click("#login-button")
        await page.wait_for_selector("#connection:text('live')")
        await post_sms(client, "SMb1", "+14155550124", "hi")
        row = page.locator("#agents tbody tr", has_text="Alice")
        await row.wait_for()
        assert await page.evaluate("window.p === undefined")
        await row.locator(".set-away").click()
        state = page.locator("#agents tbody tr", has_text="Alice").locator("td").nth(1)
        await page.wait_for_function(
            "() => [...document.querySelectorAll('#agents tbody tr')].some("
            "r => r.textContent.includes('Alice') && r.children[1].textContent.startsWith('away'))"
        )
        assert (await state.text_content() or "").startswith("away")
        await page.wait_for_function(
            "() => [...document.querySelectorAll('#queues tbody tr')].some("
            "r => r.children[0].textContent === 'Support' && r.children[1].textContent === '1')"
        )
        await page.wait_for_function(
            "() => [...document.querySelectorAll('#traffic tbody tr')].some("
            "r => r.children[0].textContent === 'sms' && r.children[1].textContent === '1')"
        )
        # A customer waiting for Alice's reply shows in her row.
        hub = hub_of(client)
        alice = next(a for a in await agents_of(hub) if a.username == "alice")
        customer = Customer(name="Visitor")
        chat = Interaction(
            customer_id=customer.id, channel="chat", state="assigned", assigned_agent_id=alice.id
        )
        async with hub.store.transaction() as s:
            s.add_all([customer, chat])
            s.add(Message(interaction_id=chat.id, channel="chat", direction="in", body="hi?"))
        await page.wait_for_function(
            "() => [...document.querySelectorAll('#agents tbody tr')].some("
            "r => r.textContent.includes('Alice') && "
            "r.children[4].textContent.startsWith('1 (oldest '))"
        )
        await page.wait_for_selector("#hourly")
        if os.environ.get("CRMHUB_SCREENSHOTS"):
            IMAGES.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(IMAGES / "supervisor-board.png"), full_page=True)
        assert errors == []
    finally:
        await page.close()

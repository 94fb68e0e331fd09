"""Queue positions (the chat widget's and the voice prompt's "you are number 3") stay exact
when many callers ask at once: they share one ranking instead of building one each."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from channels.base import InboundContact
from hub.actions.receive_contact import receive_contact
from hub.app import create_app
from hub.context import Hub
from hub.models import Customer, CustomerIdentity
from hub.queue_position import queue_position
from hub.routing_snapshot import load_snapshot
from routing.engine import rank
from tests.support.clock import ManualClock
from tests.support.hubs import hub_of

pytestmark = pytest.mark.postgres


@pytest.fixture
async def hub(db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any]) -> Hub:
    app = create_app(make_settings(database_url=db_url), clock=ManualClock())
    return hub_of(await aiohttp_client(app))  # nobody is logged in: everything waits


async def chat(hub: Hub, n: int, tier: str = "standard") -> str:
    visitor = f"v-{n}"
    clock = hub.clock
    assert isinstance(clock, ManualClock)
    clock.advance(1)  # first come, first served within a tier needs distinct arrival times
    if tier != "standard":
        async with hub.store.transaction() as session:
            c = Customer(name=f"customer {n}", tier=tier)
            session.add(c)
            session.add(CustomerIdentity(customer_id=c.id, kind="chat", value=visitor))
    got = await receive_contact(
        hub,
        InboundContact(channel="chat", provider_ref=f"chat-{n}", sender=visitor, body="hi"),
        queue_id="support",
    )
    return got.interaction_id


async def expected(hub: Hub) -> dict[str, int]:
    async with hub.store.session() as session:
        snapshot = await load_snapshot(session, hub.settings)
    return {r.interaction_id: r.position for r in rank(snapshot, hub.now().timestamp())}


async def test_concurrent_callers_get_the_positions_of_one_exact_ranking(hub: Hub) -> None:
    ids = [await chat(hub, n, "vip" if n % 5 == 4 else "standard") for n in range(15)]
    answers = await asyncio.gather(*(queue_position(hub, i) for i in ids))
    got = {i: a.position for i, a in zip(ids, answers, strict=True) if a is not None}
    assert got == await expected(hub)
    assert sorted(got.values()) == list(range(1, 16))
    assert got[ids[4]] == 1  # the first VIP is next, ahead of ten earlier standard chats


async def test_a_contact_arriving_during_a_ranking_gets_a_ranking_that_includes_it(
    hub: Hub,
) -> None:
    first = [await chat(hub, n) for n in range(5)]
    asking = [asyncio.create_task(queue_position(hub, i)) for i in first]
    vip = await chat(hub, 99, "vip")  # committed while the others' ranking may be running
    mine = await queue_position(hub, vip)
    await asyncio.gather(*asking)
    assert mine is not None and mine.position == 1


async def test_work_that_is_not_waiting_has_no_position(hub: Hub) -> None:
    assert await queue_position(hub, "no-such-interaction") is None

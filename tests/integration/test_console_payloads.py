"""The payloads consoles receive (customer card, offer, message), pinned field by field on SQLite
and PostgreSQL: console.js, the supervisor board and the snapshot test read these shapes, so a
faster query behind them must produce exactly the same dicts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agent_console.presenter import message_payload, offer_payload
from hub.app import create_app
from hub.context import Hub
from hub.customers import customer_card
from hub.models import Message, Offer
from tests.support.console_seed import LONG, at, seed
from tests.support.hubs import hub_of

pytestmark = pytest.mark.postgres


@pytest.fixture
async def hub(db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any]) -> Hub:
    return hub_of(await aiohttp_client(create_app(make_settings(database_url=db_url))))


def summary(n: int, preview: str) -> dict[str, Any]:
    return {
        "id": f"i{n}",
        "channel": "chat" if n == 7 else "sms",
        "state": "offered" if n == 7 else "closed",
        "subject": f"subject {n}",
        "created_at": at(n * 100).isoformat(),
        "disposition": "" if n == 7 else "resolved",
        "agent_id": None if n == 7 else "a1",
        "preview": preview,
    }


EXPECTED_CARD: dict[str, Any] = {
    "id": "c1",
    "name": "Ada <script>",
    "kind": "person",
    "tier": "gold",
    "tier_reasons": ["ltv"],
    "lifetime_value": 1234.5,
    "rfm": {"r": 5, "f": 4, "m": 3},
    "churn_risk": True,
    "churn_reasons": ["quiet"],
    "preferences": {"channel": "sms"},
    "consent": {"sms": False},
    "language": "de",
    "company": "ACME",
    "orders": {"count": 2, "last": at(20).isoformat()},
    "notes": [
        {"body": (f"note {n} " + "y" * 400)[:300], "author": f"author {n}"} for n in (3, 2, 1)
    ],
    "tags": ["vip", "b2b"],
    "identities": [
        {"kind": "phone", "value": "+15550100", "confidence": "known"},
        {"kind": "email", "value": "ada@x.test", "confidence": "known"},
    ],
    "history": [
        summary(7, "photo"),
        summary(6, "six"),
        summary(5, "five"),
        summary(4, ""),
        summary(3, "newer"),
        summary(2, ""),
    ],
}


def message(mid: str, body: str, minute: int, files: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "attachments": files,
        "id": mid,
        "interaction_id": "i7",
        "channel": "chat",
        "direction": "in",
        "sender": "+15550100",
        "author_agent_id": None,
        "subject": "",
        "body": body,
        "status": "received",
        "error": "",
        "created_at": at(minute).isoformat(),
    }


FILES = [
    {
        "id": "f1",
        "filename": "a.png",
        "content_type": "application/octet-stream",
        "size": 3,
        "stored": True,
    },
    {
        "id": "f2",
        "filename": "big.bin",
        "content_type": "application/octet-stream",
        "size": 9,
        "stored": False,
    },
]


def sort_files(payload: dict[str, Any]) -> dict[str, Any]:
    """Attachments come in the database's order (no ORDER BY): compare them as a set."""
    return {**payload, "attachments": sorted(payload["attachments"], key=lambda f: f["id"])}


async def test_customer_card_shape(hub: Hub) -> None:
    seeded = await seed(hub)
    async with hub.store.session() as s:
        card = await customer_card(s, seeded.customer)
        assert card == EXPECTED_CARD
        assert list(card) == list(EXPECTED_CARD)  # the same key order, too
        assert await customer_card(s, "nobody") == {
            "id": "nobody",
            "name": "",
            "tier": "standard",
            "lifetime_value": 0.0,
        }
        other = await customer_card(s, "c2")
    assert other["history"][0]["preview"] == "someone else's"
    assert other["orders"] == {"count": 0, "last": None}
    assert other["notes"] == [] and other["tags"] == []


async def test_long_preview_is_cut_not_escaped(hub: Hub) -> None:
    await seed(hub)
    async with hub.store.session() as s:
        card = await customer_card(s, "c1", recent=6)
    assert card["history"][-1] == summary(1, LONG[:140])


async def test_offer_and_message_payload_shape(hub: Hub) -> None:
    seeded = await seed(hub)
    async with hub.store.session() as s:
        offer = await s.get(Offer, seeded.offer)
        assert offer is not None
        payload = await offer_payload(s, offer)
        m10 = await s.get(Message, "m10")
        assert m10 is not None
        single = await message_payload(s, m10)
    assert payload is not None
    assert list(payload) == [
        "offer_id",
        "expires_at",
        "priority_explain",
        "interaction",
        "customer",
        "messages",
    ]
    assert payload["offer_id"] == "o1"
    assert payload["expires_at"] == at(800).isoformat()
    assert payload["priority_explain"] == "gold tier"
    assert payload["customer"] == EXPECTED_CARD
    assert payload["interaction"]["id"] == "i7" and payload["interaction"]["priority"] == 2.3
    assert [sort_files(m) for m in payload["messages"]] == [
        message("m9", "hello", 701, []),
        message("m10", "photo", 702, FILES),
    ]
    assert sort_files(single) == message("m10", "photo", 702, FILES)


async def test_the_board_lists_each_agents_own_work(hub: Hub) -> None:
    """Each agent's row on the supervisor board holds exactly the interactions assigned to that
    agent (the board now groups the assigned rows once instead of scanning them per agent)."""
    from hub.board import board
    from hub.models import Customer, Interaction, utcnow
    from tests.support.hubs import add_agent

    ann = await add_agent(hub, "ann", available=True)
    bob = await add_agent(hub, "bob", available=True)
    await add_agent(hub, "cy", available=True)
    holders = {"w1": ann.id, "w2": bob.id, "w3": ann.id, "w4": None}
    async with hub.store.transaction() as s:
        for n, (iid, holder) in enumerate(holders.items()):
            c = Customer(name=f"c{n}")
            s.add(c)
            s.add(
                Interaction(
                    id=iid,
                    customer_id=c.id,
                    channel="chat" if n % 2 else "sms",
                    state="assigned" if holder else "queued",
                    assigned_agent_id=holder,
                    assigned_at=utcnow() if holder else None,
                )
            )
    async with hub.store.session() as s:
        rows = {a["name"]: a for a in (await board(s, utcnow()))["agents"]}
    work = {name: sorted(w["id"] for w in row["work"]) for name, row in rows.items()}
    assert work == {"ann": ["w1", "w3"], "bob": ["w2"], "cy": []}
    assert rows["bob"]["work"] == [{"id": "w2", "channel": "chat"}]
    assert rows["ann"]["handled_today"] == 2 and rows["cy"]["handled_today"] == 0

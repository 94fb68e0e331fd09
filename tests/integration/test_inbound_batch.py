"""Group commit of inbound SMS: a burst shares transactions and still stores each contact once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import func, select

from hub.app import create_app
from hub.events import InteractionReceived, MessageCreated
from hub.models import Customer, CustomerIdentity, Interaction, Message, OutboxEntry
from tests.support.hubs import hub_of, post_sms

pytestmark = pytest.mark.postgres


@pytest.fixture
async def client(db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any]) -> Any:
    return await aiohttp_client(create_app(make_settings(database_url=db_url)))


async def count(client: Any, model: Any) -> int:
    async with hub_of(client).store.session() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


def batch_sizes(client: Any) -> tuple[float, float]:
    """(transactions, contacts) the group commit has stored so far."""
    registry = hub_of(client).metrics.registry
    n = registry.get_sample_value("crmhub_receive_batch_size_count") or 0.0
    total = registry.get_sample_value("crmhub_receive_batch_size_sum") or 0.0
    return n, total


async def events_of(client: Any, wire: str) -> int:
    async with hub_of(client).store.session() as session:
        rows = (await session.exec(select(OutboxEntry).where(OutboxEntry.kind == "event"))).all()
    return sum(1 for row in rows if row.payload.get("type") == wire)


async def opened_messages(client: Any) -> int:
    async with hub_of(client).store.session() as session:
        rows = (await session.exec(select(OutboxEntry).where(OutboxEntry.kind == "event"))).all()
    events = [r.payload for r in rows if r.payload.get("type") == MessageCreated.wire]
    firsts = {}
    for e in events:
        firsts.setdefault(e["interaction_id"], []).append(e["opened"])
    assert all(flags.count(True) <= 1 for flags in firsts.values()), firsts
    return sum(e["opened"] for e in events)


async def test_a_burst_is_stored_exactly_once_in_shared_transactions(client: Any) -> None:
    # 30 senders; each sends two messages (one conversation each), and every message is
    # retried once by the provider: 120 webhooks, 60 messages, 30 conversations.
    posts = []
    for n in range(30):
        phone = f"+1415555{n:04d}"
        for k in range(2):
            sid = f"SMB{n:03d}{k}"
            posts += [post_sms(client, sid, phone, f"msg {n}/{k}") for _retry in range(2)]
    answers = await asyncio.gather(*posts)
    assert [r.status for r in answers] == [200] * 120
    assert await count(client, Message) == 60
    assert await count(client, Interaction) == 30
    assert await count(client, Customer) == 30
    assert await count(client, CustomerIdentity) == 30
    transactions, contacts = batch_sizes(client)
    assert contacts == 120
    assert transactions < 120  # at least one transaction stored more than one contact
    assert await events_of(client, InteractionReceived.wire) == 30
    assert await events_of(client, MessageCreated.wire) == 60
    # Each conversation's first message opened it (the broadcaster skips those), and only it.
    assert await opened_messages(client) == 30


async def test_a_later_message_continues_the_open_conversation(client: Any) -> None:
    assert (await post_sms(client, "SMC1", "+14155550100", "first")).status == 200
    burst = [post_sms(client, f"SMC{k}", "+14155550100", f"more {k}") for k in range(2, 12)]
    assert all(r.status == 200 for r in await asyncio.gather(*burst))
    async with hub_of(client).store.session() as session:
        ids = set((await session.exec(select(Message.interaction_id))).all())
    assert len(ids) == 1
    assert await count(client, Customer) == 1


async def test_one_unreadable_sender_fails_alone(client: Any) -> None:
    good = [post_sms(client, f"SMG{k}", f"+1415555{k:04d}", "hello") for k in range(8)]
    bad = post_sms(client, "SMBAD", "not a phone number", "hello")
    answers = await asyncio.gather(bad, *good)
    assert answers[0].status == 422
    assert [r.status for r in answers[1:]] == [200] * 8
    assert await count(client, Message) == 8


async def test_racing_processes_fall_back_to_one_by_one_and_store_each_once(
    pg_url: str,
    aiohttp_client: Any,
    make_settings: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two hubs on one database receive the same new senders at once: a batch that loses a
    unique key (the other process created the customer first) is stored again one by one."""
    a = await aiohttp_client(create_app(make_settings(database_url=pg_url)))
    b = await aiohttp_client(create_app(make_settings(database_url=pg_url)))
    caplog.set_level(logging.INFO, logger="hub.inbound_batch")
    posts = []
    for n in range(20):
        phone = f"+1650555{n:04d}"
        posts += [
            post_sms(a, f"SMA{n:03d}", phone, "via a"),
            post_sms(b, f"SMB{n:03d}", phone, "b"),
        ]
    assert all(r.status == 200 for r in await asyncio.gather(*posts))
    assert await count(a, Message) == 40
    assert await count(a, Customer) == 20
    assert await count(a, Interaction) == 20
    assert "storing one by one" in caplog.text


async def test_the_receive_path_says_the_conversation_state(client: Any) -> None:
    """The chat widget's position is read only for a waiting conversation: the state comes back
    with the receipt instead of a query per chat line."""
    import sqlalchemy as sa

    from channels.base import InboundContact
    from hub.actions.receive_contact import receive_contact

    hub = hub_of(client)

    def chat(ref: str) -> InboundContact:
        return InboundContact(channel="chat", provider_ref=ref, sender="visitor-1", body="hi")

    first = await receive_contact(hub, chat("c1"))
    assert first.new_interaction and first.state == "queued"
    async with hub.store.transaction() as session:
        await session.exec(
            sa.update(Interaction)
            .where(Interaction.id == first.interaction_id)  # type: ignore[arg-type]
            .values(state="assigned")
        )
    later = await receive_contact(hub, chat("c2"))
    assert later.interaction_id == first.interaction_id and later.state == "assigned"
    retry = await receive_contact(hub, chat("c2"))
    assert retry.duplicate and retry.state == ""  # unknown: the caller reads it if it needs it


async def test_the_batch_reads_use_the_unique_indexes(tmp_path: Any) -> None:
    """Filtering on provider_ref (or identity value) alone scanned the whole table on every
    batch: B1's latency after its burst grew from tens of ms to seconds."""
    from channels.base import InboundContact
    from hub.actions.receive_batch import Pending, identities_query, stored_query
    from hub.store import Store

    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'plan.db'}")
    await store.migrate()
    items = [Pending(InboundContact(channel="sms", provider_ref="SM1", sender="+1"), None)]
    try:
        async with store.engine.connect() as conn:
            for query in (
                stored_query(items),
                identities_query({("phone", "+14155550100")}, {"sms"}),
            ):
                sql = str(query.compile(conn.sync_engine, compile_kwargs={"literal_binds": True}))
                plan = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")).all()
                steps = " | ".join(str(row[-1]) for row in plan)
                assert "SCAN" not in steps, steps
    finally:
        await store.close()


async def test_the_batch_finds_open_conversations_by_customer(tmp_path: Any) -> None:
    """With several customers in the batch SQLite judged `channel IN ('chat')` cheaper than the
    customers and walked the (channel, provider_ref) index: every batch read every interaction
    of its channel ever stored (a quarter of the hub's time in B2, growing with the day)."""
    from hub.actions.receive_batch import OPEN, identities_query
    from hub.store import Store

    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'plan.db'}")
    await store.migrate()
    try:
        async with store.engine.connect() as conn:
            for n in (200, 2, 1):
                customers = [f"c{k}" for k in range(n)]
                for query in (
                    OPEN.params(customers=customers, channels=["chat", "sms"]),
                    identities_query({("chat", c) for c in customers}, {"chat", "sms"}),
                ):
                    sql = str(
                        query.compile(conn.sync_engine, compile_kwargs={"literal_binds": True})
                    )
                    plan = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")).all()
                    steps = " | ".join(str(row[-1]) for row in plan)
                    assert "(customer_id=? AND channel=? AND state=?)" in steps, steps
                    assert "SCAN" not in steps, steps
    finally:
        await store.close()


async def test_a_batch_follows_merges_and_prefers_the_account_manager(client: Any) -> None:
    """The batch reads a known sender's customer as columns, not as an entity: a customer
    merged away whose identity still points at it forwards to the survivor, and a new
    conversation prefers the account manager of the customer it lands on."""
    from channels.base import InboundContact
    from hub.actions.receive_contact import receive_contact
    from hub.models import Agent

    hub = hub_of(client)
    async with hub.store.transaction() as session:
        manager = Agent(username="account-manager")
        survivor = Customer(name="Survivor", account_manager_id=manager.id)
        merged = Customer(name="Merged away", merged_into_id=survivor.id)
        managed = Customer(name="Managed", account_manager_id=manager.id)
        plain = Customer(name="Plain")
        session.add_all([manager, survivor, merged, managed, plain])
        await session.flush()
        session.add_all(
            [
                CustomerIdentity(customer_id=c.id, kind="phone", value=phone)
                for c, phone in (
                    (merged, "+14155550101"),
                    (managed, "+14155550102"),
                    (plain, "+14155550103"),
                )
            ]
        )

    def sms(n: int) -> InboundContact:
        return InboundContact(
            channel="sms", provider_ref=f"SM-merge-{n}", sender=f"+1415555010{n}", body="hi"
        )

    got = await asyncio.gather(*(receive_contact(hub, sms(n)) for n in (1, 2, 3, 4)))
    assert [g.customer_id for g in got[:3]] == [survivor.id, managed.id, plain.id]
    assert got[3].customer_id not in {survivor.id, merged.id, managed.id, plain.id}
    async with hub.store.session() as session:
        preferred = [
            (await session.get(Interaction, g.interaction_id)).preferred_agent_id  # type: ignore[union-attr]
            for g in got
        ]
    assert preferred == [manager.id, manager.id, None, None]
    # Later messages continue those conversations, the merged-away sender's on the survivor.
    again = await asyncio.gather(
        *(
            receive_contact(
                hub,
                InboundContact(
                    channel="sms", provider_ref=f"SM-again-{n}", sender=f"+1415555010{n}"
                ),
            )
            for n in (1, 2, 3, 4)
        )
    )
    assert [a.interaction_id for a in again] == [g.interaction_id for g in got]
    assert not any(a.new_interaction for a in again)


async def test_a_batch_stores_what_the_entities_would(client: Any) -> None:
    """The batch inserts plain rows (hub/rows.py): every default a model would fill, and the
    case-folded search name the Customer entity's insert event sets, must be there."""
    from channels.base import InboundContact
    from hub.actions.receive_contact import receive_contact
    from hub.customer_search import search_customers

    hub = hub_of(client)
    contacts = [
        InboundContact(
            channel="chat",
            provider_ref=f"chat-{n}",
            sender=f"visitor-{n}",
            sender_name=f"Zoë Ünal {n}",
            body="hello",
        )
        for n in range(3)
    ]
    got = await asyncio.gather(*(receive_contact(hub, c) for c in contacts))
    async with hub.store.session() as session:
        customer = await session.get(Customer, got[0].customer_id)
        interaction = await session.get(Interaction, got[0].interaction_id)
        message = await session.get(Message, got[0].message_id)
        found = await search_customers(session, "zoë ünal 0")
    assert customer is not None and customer.search_name == "zoë ünal 0"
    assert customer.tier == "standard" and customer.tags == [] and customer.created_at
    assert interaction is not None and interaction.state == "queued"
    assert interaction.excluded_agent_ids == [] and interaction.priority_parts == []
    assert message is not None and message.body == "hello" and message.status == "received"
    assert [c.id for c in found] == [customer.id]

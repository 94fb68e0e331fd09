"""Reads on the driver connection (hub.driver_sql) answer what SQLAlchemy's execution path
answers, on both databases, inside the session's own transaction, and stay visible to the
statement counters; a statement whose values need type processing is refused."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

import hub.customer_cards as cards
import hub.customers as card
from agent_console.message_batch import HOLDERS, HOLDERS_READ
from hub.actions.receive_batch import IDENTITIES, IDENTITIES_READ, STORED, STORED_READ
from hub.availability import unavailable
from hub.driver_sql import DriverRead
from hub.models import Customer, CustomerIdentity, CustomerNote, Interaction, Message
from hub.store import Store
from hub.tables import INTERACTIONS
from tests.support.statements import counting

pytestmark = pytest.mark.postgres

STATES = ("queued", "offered", "assigned", "closed")
CHANNELS = ("sms", "chat")


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    store = Store(db_url)
    await store.migrate()
    yield store
    await store.close()


async def seed(store: Store, rng: random.Random) -> dict[str, list[str]]:
    """Customers with identities, conversations in every state and messages with refs."""
    made: dict[str, list[str]] = {"values": [], "refs": [], "interactions": [], "customers": []}
    async with store.transaction() as s:
        for n in range(12):
            c = Customer(name=f"C{n}")
            s.add(c)
            made["customers"].append(c.id)
            for _ in range(rng.randint(0, 5)):
                at = datetime(2026, 11, rng.randint(1, 3), n, tzinfo=UTC)  # ties broken by id
                s.add(CustomerNote(customer_id=c.id, body="x" * rng.randint(0, 400), created_at=at))
            for kind in ("phone", "chat"):
                value = f"{kind}-{n}"
                s.add(CustomerIdentity(customer_id=c.id, kind=kind, value=value))
                made["values"].append(value)
            for k in range(rng.randint(0, 3)):
                agent = rng.choice([None, "a1", "a2"])
                it = Interaction(
                    customer_id=c.id,
                    channel=rng.choice(CHANNELS),
                    state=rng.choice(STATES),
                    offered_agent_id=agent,
                    assigned_agent_id=rng.choice([None, agent]),
                    created_at=datetime(2026, 11, 1, n, k, tzinfo=UTC),
                )
                s.add(it)
                made["interactions"].append(it.id)
                ref = f"ref-{n}-{k}"
                s.add(
                    Message(
                        interaction_id=it.id, channel=it.channel, direction="in", provider_ref=ref
                    )
                )
                made["refs"].append(ref)
    return made


def plain(rows: Any) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in rows)


async def test_the_driver_reads_answer_what_sqlalchemy_answers(store: Store) -> None:
    rng = random.Random(7)
    made = await seed(store, rng)
    async with store.session() as s:
        for _ in range(30):
            refs = [*rng.sample(made["refs"], rng.randint(1, 6)), "absent"]
            channels = sorted(rng.sample(CHANNELS, rng.randint(1, 2)))
            params: dict[str, Any] = {"channels": channels, "refs": sorted(refs)}
            expected = plain(await s.execute(STORED, params))
            assert plain(await STORED_READ.all(s, params)) == expected

            values = sorted(rng.sample(made["values"], rng.randint(1, 5)))
            params = {"kinds": ["chat", "phone"], "values": values, "channels": channels}
            want = (await s.execute(IDENTITIES, params)).all()
            got = await IDENTITIES_READ.all(s, params)
            assert plain(got) == plain(want)
            # Newest conversation first, as the receive batch relies on: same order of ids.
            assert [r[5] for r in got] == [r[5] for r in want]

            ids = [*rng.sample(made["interactions"], rng.randint(1, 8)), "absent"]
            params = {"ids": sorted(ids)}
            assert plain(await HOLDERS_READ.all(s, params)) == plain(
                await s.execute(HOLDERS, params)
            )
            # The customer card's reads, one customer and a batch of them.
            params = {"customer_id": rng.choice(made["customers"])}
            for read, statement in (
                (card.IDENTITIES_READ, card.IDENTITIES),
                (card.NOTES_READ, card.NOTES),
            ):
                assert [tuple(r) for r in await read.all(s, params)] == [
                    tuple(r) for r in await s.execute(statement, params)
                ]
            params = {"ids": sorted(rng.sample(made["customers"], rng.randint(1, 6)))}
            for read, statement in (
                (cards.IDENTITIES_READ, cards.IDENTITIES),
                (cards.NOTES_READ, cards.NOTES),
            ):
                assert [tuple(r) for r in await read.all(s, params)] == [
                    tuple(r) for r in await s.execute(statement, params)
                ]
        # An empty list is SQL of its own shape (IN of nothing), not an error.
        assert list(await HOLDERS_READ.all(s, {"ids": []})) == []


async def test_a_driver_read_sees_its_own_transactions_writes(store: Store) -> None:
    async with store.transaction() as s:
        c = Customer(name="New")
        s.add(c)
        s.add(CustomerIdentity(customer_id=c.id, kind="chat", value="fresh"))
        await s.flush()
        rows = await IDENTITIES_READ.all(
            s, {"kinds": ["chat"], "values": ["fresh"], "channels": ["chat"]}
        )
        assert [(r[0], r[1], r[2]) for r in rows] == [("chat", "fresh", c.id)]
        await s.rollback()
    async with store.session() as s:
        params = {"kinds": ["chat"], "values": ["fresh"], "channels": ["chat"]}
        assert list(await IDENTITIES_READ.all(s, params)) == []


async def test_driver_reads_are_counted_like_any_statement(store: Store) -> None:
    async with store.session() as s:
        with counting(store) as sent:
            await HOLDERS_READ.all(s, {"ids": ["x", "y"]})
    assert len(sent) == 1 and "FROM interactions" in sent[0]


async def test_a_statement_that_needs_type_processing_is_refused(store: Store) -> None:
    dates = DriverRead(sa.select(INTERACTIONS.c.id, INTERACTIONS.c.created_at))
    since = DriverRead(
        sa.select(INTERACTIONS.c.id).where(INTERACTIONS.c.created_at > sa.bindparam("since"))
    )
    async with store.session() as s:
        dialect = (await s.connection()).dialect
        # What needs a processor depends on the dialect: asyncpg takes datetimes as they are.
        if INTERACTIONS.c.created_at.type.result_processor(dialect, None) is not None:
            with pytest.raises(TypeError, match="result processor"):
                await dates.all(s, {})
        if INTERACTIONS.c.created_at.type.bind_processor(dialect) is not None:
            with pytest.raises(TypeError, match="bind processor"):
                await since.all(s, {"since": datetime.now(UTC)})
        assert store.is_sqlite == (dialect.name == "sqlite")


async def test_a_failing_driver_read_fails_as_sqlalchemy_says(store: Store) -> None:
    """What the driver raises (sqlite3's or asyncpg's own exceptions) reaches the hub as
    SQLAlchemy's DBAPIError family, like any statement's failure: an outage is a 503 to retry,
    never a 500 (hub.availability)."""
    async with store.session() as s:
        if store.is_sqlite:
            # The table gone under the read: sqlite3.OperationalError at the driver.
            await s.execute(sa.text("ALTER TABLE interactions RENAME TO gone"))
        else:
            # The server drops the connection: asyncpg's ConnectionDoesNotExistError.
            pid = (await s.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()
            async with store.engine.connect() as other:
                await other.execute(sa.text(f"SELECT pg_terminate_backend({pid})"))
        with pytest.raises(DBAPIError) as failed:
            await HOLDERS_READ.all(s, {"ids": ["x"]})
        assert unavailable(failed.value)
        await s.rollback()

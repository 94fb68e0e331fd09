"""The broadcaster loads what a batch of events needs together: each event must still produce
exactly the emits it produces alone (payload, room, namespace), each interaction's in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
import sqlalchemy as sa

from agent_console.broadcaster import Broadcaster
from hub.app import create_app
from hub.context import Hub
from hub.events import Event, MessageCreated, MessageStatusChanged, OfferMade, OfferRevoked
from tests.support.console_seed import seed
from tests.support.hubs import hub_of

pytestmark = pytest.mark.postgres


@pytest.fixture
async def hub(db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any]) -> Hub:
    return hub_of(await aiohttp_client(create_app(make_settings(database_url=db_url))))


class Recorder:
    """Stands in for the Socket.IO server: what the broadcaster emits, in order."""

    def __init__(self) -> None:
        self.emits: list[tuple[str, Any, str | None, str | None]] = []

    async def emit(
        self, event: str, data: Any = None, *, room: str | None = None, namespace: str | None = None
    ) -> None:
        self.emits.append((event, data, room, namespace))


def about(emit: tuple[str, Any, str | None, str | None]) -> str:
    data = emit[1]
    return str(data.get("interaction_id") or data.get("interaction", {}).get("id"))


async def test_a_batch_emits_what_each_event_alone_would(hub: Hub) -> None:
    """Loading a batch's rows together must not change a payload, a room or the order of one
    interaction's events."""
    await seed(hub)
    events: list[Event] = [
        MessageCreated(message_id="m9", interaction_id="i7", direction="in"),
        OfferMade(offer_id="o1", interaction_id="i7", agent_id="a1", expires_at=0.0),
        MessageCreated(message_id="m11", interaction_id="j1", direction="in"),  # nobody holds j1
        MessageCreated(message_id="gone", interaction_id="i7", direction="in"),
        MessageStatusChanged(message_id="m10", interaction_id="i7", status="sent"),
        OfferRevoked(offer_id="o1", interaction_id="i7", agent_id="a1", reason="timeout"),
        MessageCreated(message_id="m8", interaction_id="i6", direction="out"),
    ]
    alone = Recorder()
    for event in events:
        await Broadcaster(hub, alone).dispatch(event)
    batched = Recorder()
    await Broadcaster(hub, batched).handle(events)
    for key in ("i7", "j1", "i6"):
        assert [e for e in batched.emits if about(e) == key] == [
            e for e in alone.emits if about(e) == key
        ]
    assert len(batched.emits) == len(alone.emits) == 9
    assert [e[0] for e in alone.emits if about(e) == "i7"] == [
        "message.created",
        "peek.message",
        "offer",
        "message.status",
        "peek.message",
        "offer.revoked",
    ]


async def test_a_message_that_opened_its_interaction_costs_nothing(hub: Hub) -> None:
    """Nobody can hold or peek at an interaction before the transaction that opened it commits,
    and whoever gets it later reads its messages then: the broadcaster neither reads nor emits
    for its first message (two reads and a session per new contact before)."""
    await seed(hub)

    def statements() -> float:
        return hub.metrics.registry.get_sample_value("crmhub_db_statements_total") or 0.0

    opened = MessageCreated(message_id="m11", interaction_id="j1", direction="in", opened=True)
    later = MessageCreated(message_id="m11", interaction_id="j1", direction="in")
    before, recorder = statements(), Recorder()
    await Broadcaster(hub, recorder).handle([opened])
    assert recorder.emits == [] and statements() == before
    await Broadcaster(hub, recorder).handle([later])  # the same message, had it come later
    assert [e[0] for e in recorder.emits] == ["peek.message"] and statements() > before


async def test_the_broadcaster_does_not_wait_for_the_shared_pool(hub: Hub) -> None:
    """Every shared connection busy (a burst of chat handlers): the broadcaster still emits.
    It queued behind them, and on PostgreSQL past the 5 s pool timeout, which lost the emit."""
    if hub.store.is_sqlite:
        pytest.skip("on SQLite the fan-out shares the one engine by design (hub/store.py)")
    await seed(hub)
    pool: Any = hub.store.engine.pool
    async with AsyncExitStack() as held:
        for _ in range(pool.size() + pool._max_overflow):
            session = await held.enter_async_context(hub.store.session())
            await session.execute(sa.text("SELECT 1"))  # checks a connection out
        assert pool.checkedout() == pool.size() + pool._max_overflow
        recorder = Recorder()
        events: list[Event] = [
            MessageCreated(message_id="m9", interaction_id="i7", direction="in"),
            OfferMade(offer_id="o1", interaction_id="i7", agent_id="a1", expires_at=0.0),
        ]
        await asyncio.wait_for(Broadcaster(hub, recorder).handle(events), timeout=4)
    assert [e[0] for e in recorder.emits] == ["message.created", "peek.message", "offer"]


async def test_an_offer_whose_time_ran_out_before_its_emit_is_not_emitted(hub: Hub) -> None:
    """Read late (a backlog, a slow link), an expired offer reached the console only to be refused
    when the agent took it, and it kept the live offers behind it waiting; the sweep that takes
    it back tells the console (`offer.revoked`)."""
    from hub.models import Interaction

    await seed(hub)
    made = OfferMade(offer_id="o1", interaction_id="i7", agent_id="a1", expires_at=0.0)
    recorder = Recorder()
    await Broadcaster(hub, recorder).handle([made])
    assert [e[0] for e in recorder.emits] == ["offer"]
    async with hub.store.transaction() as session:
        it = await session.get(Interaction, "i7")
        assert it is not None
        it.offer_expires_at = hub.now()
        session.add(it)
    recorder = Recorder()
    await Broadcaster(hub, recorder).handle([made])
    assert recorder.emits == []


async def _more_offers(hub: Hub) -> None:
    """On top of the seed: c1 with more interactions, notes and messages than a card or an offer
    shows, several at the same instant (the tie-breaks); a second offer, to another customer."""
    from hub.models import CustomerNote, Interaction, Message, Offer
    from tests.support.console_seed import OPEN_UNTIL, at

    async with hub.store.transaction() as s:
        for n in range(4):  # the same instant as i6: which two of them show is the tie-break
            s.add(Interaction(id=f"t{n}", customer_id="c1", channel="sms", created_at=at(600)))
        for n in range(3):
            s.add(CustomerNote(customer_id="c1", body=f"tie {n}", created_at=at(3)))
        for n in range(60):
            s.add(
                Message(
                    id=f"x{n:02d}",
                    interaction_id="i7",
                    channel="chat",
                    direction="in",
                    body=f"line {n}",
                    created_at=at(703 + n // 4),
                )
            )
        it = await s.get(Interaction, "j1")
        assert it is not None
        it.state, it.offer_id, it.offered_agent_id = "offered", "o2", "a1"
        it.offer_expires_at = OPEN_UNTIL
        s.add(it)
        s.add(Offer(id="o2", interaction_id="j1", agent_id="a1", expires_at=at(960)))


async def test_a_batch_of_offers_reads_each_payload_as_it_would_alone(hub: Hub) -> None:
    """A routing pass makes up to an agent's capacity of offers at once; read one by one (seven
    statements each), the last of 100 reached its console after it had expired over a slow
    link. Read together, every payload is the same: the newest interactions, notes and messages
    of each, ties included, and a missing offer is absent."""
    from agent_console.presenter import offer_by_id, offers_by_id
    from tests.support.statements import counting

    await seed(hub)
    await _more_offers(hub)
    async with hub.store.fanout_session() as session:
        alone = {o: await offer_by_id(session, o) for o in ("o1", "o2")}
        with counting(hub.store) as sent:
            together = await offers_by_id(session, ["o1", "o2", "gone"])
    assert together == alone
    assert len(sent) == 6
    o1 = together["o1"]
    assert len(o1["messages"]) == 50 and o1["messages"][-1]["body"] == "line 59"
    assert len(o1["customer"]["history"]) == 6 and len(o1["customer"]["notes"]) == 3
    events: list[Event] = [
        OfferMade(offer_id=o, interaction_id=i, agent_id="a1", expires_at=0.0)
        for o, i in (("o1", "i7"), ("o2", "j1"), ("gone", "i0"))
    ]
    one_by_one, batched = Recorder(), Recorder()
    for event in events:
        await Broadcaster(hub, one_by_one).dispatch(event)
    await Broadcaster(hub, batched).handle(events)
    assert sorted(map(about, batched.emits)) == sorted(map(about, one_by_one.emits)) == ["i7", "j1"]
    assert sorted(batched.emits, key=about) == sorted(one_by_one.emits, key=about)

"""Offers first: a new offer reaches its agent while the broadcaster still works through a burst
of older events, and never after what closed it (agent_console/broadcaster.py, offer_fence.py).

Each test runs on the in-memory bus and on Redis Streams against the real Redis. A "node" is one
hub process's broadcaster with its bus consumers (Broadcaster.consumers, as hub/app.py runs
them) and a recording emitter whose emits can be held at the door: a slow Socket.IO emit, or a
process paused in the middle of one. Every node appends to one log: what the consoles see.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any

import pytest

from agent_console.broadcaster import CONSOLE_GROUP, OFFERS_GROUP, STILL_OFFERED, Broadcaster
from channels.base import InboundContact
from hub.actions.handle_offer import accept_offer, reject_offer
from hub.actions.receive_contact import receive_contact
from hub.actions.route_interactions import route_interactions
from hub.app import create_app
from hub.context import Hub
from hub.events import CallRinging, InteractionUpdated, OfferMade
from hub.models import Interaction
from tests.support.hubs import add_agent, hub_of

BURST = 300
TIMEOUT_S = 10.0
OFFER_LANE_EMITS = {"offer", "offer.revoked", "call.ringing", "call.ringing.ended"}


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def hub(
    request: pytest.FixtureRequest, aiohttp_client: Any, make_settings: Callable[..., Any]
) -> Hub:
    bus: dict[str, Any] = {}
    if request.param == "redis":
        bus = {
            "redis_url": request.getfixturevalue("redis_url"),
            "redis_prefix": request.getfixturevalue("redis_prefix"),
        }
    # A live node's batch must never look abandoned: with 0.5 s for every test, a loaded CI
    # machine took longer over a batch and the other node claimed and emitted it again (every
    # offer twice in the exactly-once test). Only the dead-consumer test needs a short claim.
    marker = request.node.get_closest_marker("claim_after_s")
    claim_after_s = marker.args[0] if marker else 30.0
    settings = make_settings(
        queues=[{"id": "support", "name": "Support"}], bus_claim_after_s=claim_after_s, **bus
    )
    return hub_of(await aiohttp_client(create_app(settings)))


class Log:
    """Every emit that reached a console, in order, from every node."""

    def __init__(self) -> None:
        self.emits: list[tuple[str, Any, str | None]] = []
        self.changed = asyncio.Condition()

    async def add(self, event: str, data: Any, room: str | None) -> None:
        async with self.changed:
            self.emits.append((event, data, room))
            self.changed.notify_all()

    async def until(self, check: Callable[[], bool]) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(check), TIMEOUT_S)

    def names(self, about: str | None = None) -> list[str]:
        return [e for e, data, _ in self.emits if about is None or about_of(data) == about]

    def count(self, event: str) -> int:
        return self.names().count(event)


def about_of(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    if "interaction_id" in data:
        return str(data["interaction_id"])
    if isinstance(data.get("interaction"), dict):
        return str(data["interaction"]["id"])
    return str(data.get("id")) if "state" in data else None


class Node:
    """One hub process's broadcaster. Emits for which `hold` is true wait until released."""

    def __init__(
        self, hub: Hub, log: Log, name: str, hold: Callable[[str], bool] = lambda _e: False
    ) -> None:
        self.hub, self.log, self.name, self.hold = hub, log, name, hold
        self.broadcaster = Broadcaster(hub, self)
        self.door = asyncio.Event()
        self.at_door: dict[str, asyncio.Event] = {}
        self.tasks: list[asyncio.Task[None]] = []

    async def emit(
        self, event: str, data: Any = None, *, room: str | None = None, namespace: str | None = None
    ) -> None:
        if self.hold(event) and not self.door.is_set():
            self.at_door.setdefault(event, asyncio.Event()).set()
            await self.door.wait()
        await self.log.add(event, data, room)

    async def reached(self, event: str) -> None:
        """An emit of `event` is waiting at the door."""
        await asyncio.wait_for(self.at_door.setdefault(event, asyncio.Event()).wait(), TIMEOUT_S)

    def release(self) -> None:
        self.door.set()

    def start(self) -> None:
        consumers = self.broadcaster.consumers(self.name, block_s=0.1)
        self.tasks = [asyncio.create_task(c, name=n) for n, c in consumers.items()]

    async def stop(self) -> None:
        self.release()
        # As hub/app.py stops them: a cancel that lands in a blocking Redis read can come back
        # as a connection error, which the consumer retries; the flag ends its loop.
        self.hub.shutdown.requested = True
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture
async def log() -> Log:
    return Log()


@pytest.fixture
async def nodes(hub: Hub, log: Log) -> AsyncIterator[Callable[..., Node]]:
    made: list[Node] = []

    def node(name: str, hold: Callable[[str], bool] = lambda _e: False) -> Node:
        made.append(Node(hub, log, name, hold))
        return made[-1]

    yield node
    for n in made:
        await n.stop()


def fence_entered(node: Node, interaction_id: str) -> asyncio.Event:
    """Set when the node's broadcaster, having read an event of `interaction_id` that must follow
    its offers, waits at the offer fence (the nodes of one hub share one fence)."""
    entered = asyncio.Event()
    fence = getattr(node.broadcaster, "fence", None)
    if fence is None:  # a broadcaster without the fence: only the emit can tell
        return entered
    wait_clear = fence.wait_clear

    async def spy(ids: Collection[str]) -> None:
        if interaction_id in ids:
            entered.set()
        await wait_clear(ids)

    fence.wait_clear = spy
    return entered


async def first_of(*waits: Awaitable[Any]) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    done, pending = await asyncio.wait(tasks, timeout=TIMEOUT_S, return_when="FIRST_COMPLETED")
    for task in pending:
        task.cancel()
    assert done, "neither happened"


async def offered(hub: Hub, n: int) -> tuple[str, str]:
    """An SMS, routed: (interaction id, offer id)."""
    got = await receive_contact(
        hub,
        InboundContact(
            channel="sms", provider_ref=f"SMof{n}", sender=f"+1415555{n:04d}", body=f"sms {n}"
        ),
    )
    await route_interactions(hub)
    async with hub.store.session() as session:
        it = await session.get(Interaction, got.interaction_id)
        assert it is not None and it.state == "offered" and it.offer_id
        return it.id, it.offer_id


async def drained(hub: Hub) -> None:
    """Both broadcast groups have acknowledged everything (state in the bus: polled)."""
    async with asyncio.timeout(TIMEOUT_S):
        while any([await hub.bus.backlog(g) for g in (OFFERS_GROUP, CONSOLE_GROUP)]):  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_a_new_offer_is_emitted_before_a_queued_burst_is_worked_through(
    hub: Hub, nodes: Callable[..., Node], log: Log
) -> None:
    """The burst's events are queued and every console emit is slow (held at the door): the new
    offer goes out while the burst still waits. One group in order emitted it after the burst."""
    alice = await add_agent(hub, "alice", available=True)
    old, _ = await offered(hub, 1)
    await accept_offer(hub, alice.id, old)
    for _ in range(BURST):
        await hub.bus.publish(
            InteractionUpdated(interaction_id=old, state="assigned", agent_id=alice.id)
        )
    new, _ = await offered(hub, 2)
    node = nodes("n1", hold=lambda event: event not in OFFER_LANE_EMITS)
    node.start()
    await log.until(lambda: "offer" in log.names(new))
    assert log.names() == ["offer"]  # the first offer was accepted before its emit: not shown
    assert await hub.bus.backlog(CONSOLE_GROUP) >= BURST  # ... the burst all still to go
    node.release()
    await log.until(lambda: log.count("interaction.updated") == BURST)
    await drained(hub)
    assert log.count("interaction.updated") == BURST and log.count("offer") == 1
    names = log.names(old)
    assert names.index("interaction.assigned") < names.index("interaction.updated")


@pytest.mark.parametrize(
    ("decide", "closing"),
    [(accept_offer, "interaction.assigned"), (reject_offer, "offer.revoked")],
    ids=["accept", "reject"],
)
async def test_a_decision_racing_the_offer_emit_reaches_the_console_after_the_offer(
    hub: Hub,
    nodes: Callable[..., Node],
    log: Log,
    decide: Callable[[Hub, str, str], Awaitable[Any]],
    closing: str,
) -> None:
    """Node a is inside the offer's emit (checked open, not yet sent) when the agent, who saw it
    in a snapshot, accepts or rejects; the event that closes the offer is read by either node:
    it waits for the offer (an `interaction.assigned` or `offer.revoked` never comes first)."""
    alice = await add_agent(hub, "alice", available=True)
    it, _ = await offered(hub, 1)
    a = nodes("a", hold=lambda event: event == "offer")
    a.start()
    await a.reached("offer")
    b = nodes("b")
    b.start()
    entered = [fence_entered(n, it) for n in (a, b)]
    await decide(hub, alice.id, it)
    await first_of(*(e.wait() for e in entered), log.until(lambda: closing in log.names(it)))
    assert closing not in log.names(it)
    a.release()
    await log.until(lambda: closing in log.names(it))
    names = log.names(it)
    assert names.index("offer") < names.index(closing), names
    assert names.count("offer") == 1, names


async def test_an_offer_closed_before_its_emit_is_not_emitted(hub: Hub, log: Log) -> None:
    """Read late (the offers group behind, a redelivery after a crash, the outbox relay): an
    offer already accepted or rejected would reach the console after what closed it."""
    alice = await add_agent(hub, "alice", available=True)
    taken, taken_offer = await offered(hub, 1)
    await accept_offer(hub, alice.id, taken)
    rejected, rejected_offer = await offered(hub, 2)
    await reject_offer(hub, alice.id, rejected)
    open_it, open_offer = await offered(hub, 3)
    node = Node(hub, log, "n1")
    await node.broadcaster.handle_offers(
        [
            OfferMade(offer_id=o, interaction_id=i, agent_id=alice.id, expires_at=0.0)
            for i, o in ((taken, taken_offer), (rejected, rejected_offer), (open_it, open_offer))
        ]
    )
    assert [(e, about_of(d)) for e, d, _ in log.emits] == [("offer", open_it)]


@pytest.mark.postgres
async def test_the_re_read_sees_what_committed_after_the_payload_was_read(
    db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any]
) -> None:
    """The fence's argument needs the offer's re-read to see every commit before it, although it
    runs in the session that read the payload: autocommit on PostgreSQL, and on SQLite reads open
    no transaction (a snapshot taken at the payload's first read would hide the accept)."""
    settings = make_settings(database_url=db_url, queues=[{"id": "support", "name": "Support"}])
    hub = hub_of(await aiohttp_client(create_app(settings)))
    alice = await add_agent(hub, "alice", available=True)
    it, offer = await offered(hub, 1)
    params = {"interaction_id": it, "offer_id": offer, "now": hub.now()}
    async with hub.store.fanout_session() as session:
        assert (await session.execute(STILL_OFFERED, params)).first() is not None
        await accept_offer(hub, alice.id, it)
        assert (await session.execute(STILL_OFFERED, params)).first() is None


@pytest.mark.claim_after_s(0.5)
async def test_an_offer_a_dead_process_took_is_emitted_by_another(
    hub: Hub, nodes: Callable[..., Node], log: Log
) -> None:
    """At least once: a process read the offer and died before acknowledging it; once the entry
    has been idle for `bus_claim_after_s`, a live node claims it and emits it, once."""
    await add_agent(hub, "alice", available=True)
    it, _ = await offered(hub, 1)
    taken = await hub.bus.read(OFFERS_GROUP, "dead", count=100, block_s=0.5)
    assert any(isinstance(d.event, OfferMade) for d in taken)  # ... and never acknowledged
    nodes("n1").start()
    await log.until(lambda: "offer" in log.names(it))
    await drained(hub)
    assert log.names(it).count("offer") == 1


async def test_every_event_is_emitted_once_by_two_nodes(
    hub: Hub, nodes: Callable[..., Node], log: Log
) -> None:
    """Two nodes, each with both groups: every offer and every other event once in all."""
    agents = [await add_agent(hub, f"agent{n}", available=True) for n in range(2)]
    its = [(await offered(hub, n))[0] for n in range(6)]
    for n in range(BURST):
        await hub.bus.publish(
            InteractionUpdated(interaction_id=its[n % 6], state="offered", agent_id=None)
        )
    for name in ("a", "b"):
        nodes(name).start()
    await log.until(lambda: log.count("interaction.updated") >= BURST)
    await drained(hub)
    assert sorted(str(about_of(d)) for e, d, _ in log.emits if e == "offer") == sorted(its)
    assert log.count("interaction.updated") == BURST
    assert log.count("status") == len(agents)


async def test_a_pop_for_a_call_answered_meanwhile_comes_down_again(hub: Hub, log: Log) -> None:
    """`call.ringing` travels in the offers group, the `call.ringing.ended` of an answer or a
    hang-up in the console group: a pop emitted after the call stopped ringing is taken down."""
    alice = await add_agent(hub, "alice")
    calls = []
    for n in range(2):
        got = await receive_contact(
            hub,
            InboundContact(channel="voice", provider_ref=f"c-{n}", sender=f"+49301234{n}"),
            state="ringing",
        )
        calls.append(got.interaction_id)
    ringing, answered = calls
    async with hub.store.transaction() as session:
        row = await session.get(Interaction, answered)
        assert row is not None
        row.state, row.assigned_agent_id = "assigned", alice.id
        session.add(row)
    node = Node(hub, log, "n1")
    await node.broadcaster.handle_offers(
        [CallRinging(interaction_id=i, agent_ids=(alice.id,)) for i in calls]
    )
    assert log.names(ringing) == ["call.ringing"]
    assert log.names(answered) == ["call.ringing", "call.ringing.ended"]

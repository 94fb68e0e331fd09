"""Routing through the database: priority order, longest idle, timeouts, races. Both databases."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from channels.base import InboundContact
from hub.actions.handle_offer import accept_offer, reject_offer
from hub.actions.receive_contact import receive_contact
from hub.actions.route_interactions import route_interactions
from hub.app import create_app
from hub.context import Hub
from hub.errors import Conflict
from hub.events import OfferMade
from hub.models import Agent, Customer, CustomerIdentity, Interaction, Offer
from tests.support.clock import ManualClock
from tests.support.hubs import add_agent, hub_of

pytestmark = pytest.mark.postgres


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def hub(
    db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any], clock: ManualClock
) -> Hub:
    client = await aiohttp_client(create_app(make_settings(database_url=db_url), clock=clock))
    return hub_of(client)


async def customer(hub: Hub, phone: str, tier: str, value: float = 0.0) -> None:
    async with hub.store.transaction() as session:
        c = Customer(name=f"{tier} customer", tier=tier, lifetime_value=value)
        session.add(c)
        session.add(CustomerIdentity(customer_id=c.id, kind="phone", value=phone))


async def sms(hub: Hub, sid: str, phone: str) -> str:
    got = await receive_contact(
        hub, InboundContact(channel="sms", provider_ref=sid, sender=phone, body="help")
    )
    return got.interaction_id


async def offered(hub: Hub) -> dict[str, str]:
    async with hub.store.session() as session:
        rows = (await session.exec(select(Interaction).where(Interaction.state == "offered"))).all()
    return {r.id: r.offered_agent_id or "" for r in rows}


async def test_the_vip_is_offered_first_even_when_they_wrote_later(
    hub: Hub, clock: ManualClock
) -> None:
    await customer(hub, "+14155550001", "standard")
    await customer(hub, "+14155550002", "vip", 50_000)
    standard = await sms(hub, "SMa", "+14155550001")
    clock.advance(30)
    vip = await sms(hub, "SMb", "+14155550002")
    agent = await add_agent(hub, "alice", available=True)
    await _single_capacity(hub, agent.id)
    assert await route_interactions(hub) == 1
    assert await offered(hub) == {vip: agent.id}
    async with hub.store.session() as session:
        it = await session.get(Interaction, vip)
    assert it is not None and "VIP" in it.priority_explain
    assert standard not in await offered(hub)


async def test_waiting_long_enough_overtakes_a_higher_tier(hub: Hub, clock: ManualClock) -> None:
    await customer(hub, "+14155550001", "standard")
    await customer(hub, "+14155550002", "household")
    old = await sms(hub, "SMa", "+14155550001")
    clock.advance(150)  # household is worth 100 points, waiting 1 point per second
    await sms(hub, "SMb", "+14155550002")
    agent = await add_agent(hub, "alice", available=True)
    await _single_capacity(hub, agent.id)
    await route_interactions(hub)
    assert await offered(hub) == {old: agent.id}


async def test_the_longest_idle_agent_gets_the_offer(hub: Hub, clock: ManualClock) -> None:
    first = await add_agent(hub, "first", available=True)
    clock.advance(60)
    await add_agent(hub, "second", available=True)
    it = await sms(hub, "SMa", "+14155550009")
    await route_interactions(hub)
    assert await offered(hub) == {it: first.id}


async def test_a_timed_out_offer_goes_to_another_agent_and_the_first_is_skipped(
    hub: Hub, clock: ManualClock
) -> None:
    alice = await add_agent(hub, "alice", available=True)
    clock.advance(1)
    bob = await add_agent(hub, "bob", available=True)
    it = await sms(hub, "SMa", "+14155550009")
    await route_interactions(hub)
    assert await offered(hub) == {it: alice.id}
    clock.advance(hub.settings.routing.offer_timeout_s + 1)
    await route_interactions(hub)
    assert await offered(hub) == {it: bob.id}
    with pytest.raises(Conflict):
        await accept_offer(hub, alice.id, it)
    async with hub.store.session() as session:
        outcomes = sorted(o.outcome for o in (await session.exec(select(Offer))).all())
    assert outcomes == ["pending", "timeout"]


async def test_an_agent_who_misses_offers_is_set_away(hub: Hub, clock: ManualClock) -> None:
    alice = await add_agent(hub, "alice", available=True)
    for n in range(hub.settings.routing.max_missed_offers):
        await sms(hub, f"SM{n}", f"+1415555001{n}")
        await route_interactions(hub)
        clock.advance(hub.settings.routing.offer_timeout_s + 1)
        await route_interactions(hub)
    async with hub.store.session() as session:
        agent = await session.get(Agent, alice.id)
    assert agent is not None and agent.status == "away" and agent.status_reason == "missed offers"
    assert await offered(hub) == {}


async def test_a_rejected_offer_is_not_offered_to_the_same_agent_again(hub: Hub) -> None:
    alice = await add_agent(hub, "alice", available=True)
    it = await sms(hub, "SMa", "+14155550009")
    await route_interactions(hub)
    await reject_offer(hub, alice.id, it)
    await route_interactions(hub)
    assert await offered(hub) == {}
    bob = await add_agent(hub, "bob", available=True)
    await route_interactions(hub)
    assert await offered(hub) == {it: bob.id}


async def test_a_contact_every_agent_passed_over_is_offered_again_after_the_exclusion(
    hub: Hub, clock: ManualClock
) -> None:
    """Alice rejects, Bob lets it time out: it waits (nobody else is there) until
    routing.exclusion_s after the last pass, then goes to one of them again. It used to wait
    for ever (the fault test on slow links ended with 388 contacts queued and nobody to offer
    them to)."""
    alice = await add_agent(hub, "alice", available=True)
    clock.advance(1)
    bob = await add_agent(hub, "bob", available=True)
    it = await sms(hub, "SMa", "+14155550009")
    await route_interactions(hub)
    await reject_offer(hub, alice.id, it)
    await route_interactions(hub)
    assert await offered(hub) == {it: bob.id}
    clock.advance(hub.settings.routing.offer_timeout_s + 1)
    await route_interactions(hub)
    assert await offered(hub) == {}
    clock.advance(hub.settings.routing.exclusion_s - 1)
    await route_interactions(hub)
    assert await offered(hub) == {}
    clock.advance(1)
    await route_interactions(hub)
    assert await offered(hub) == {it: alice.id}  # the longest idle of the two
    await accept_offer(hub, alice.id, it)


async def test_two_accepts_racing_assign_once(hub: Hub) -> None:
    alice = await add_agent(hub, "alice", available=True)
    it = await sms(hub, "SMa", "+14155550009")
    await route_interactions(hub)
    results = await asyncio.gather(
        *(accept_offer(hub, alice.id, it) for _ in range(5)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))


async def test_an_agent_with_one_voice_slot_gets_one_interaction_at_a_time(hub: Hub) -> None:
    alice = await add_agent(hub, "alice", available=True)
    await _single_capacity(hub, alice.id)
    for n in range(3):
        await sms(hub, f"SM{n}", f"+1415555001{n}")
    await route_interactions(hub)
    assert len(await offered(hub)) == 1


async def _single_capacity(hub: Hub, agent_id: str) -> None:
    async with hub.store.transaction() as session:
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        agent.capacity = {"voice": 1, "sms": 1, "chat": 1, "email": 1}
        session.add(agent)


async def test_the_customers_last_agent_gets_the_first_offer(hub: Hub, clock: ManualClock) -> None:
    from hub.actions.wrap_up import wrap_up

    alice = await add_agent(hub, "alice", available=True)
    first = await sms(hub, "SMa", "+14155550009")
    await route_interactions(hub)
    await accept_offer(hub, alice.id, first)
    await wrap_up(hub, alice.id, first, "resolved")
    clock.advance(hub.settings.routing.wrapup_s + 1)
    bob = await add_agent(hub, "bob", available=True)
    async with hub.store.transaction() as session:  # bob idle far longer: he would win otherwise
        row = await session.get(Agent, bob.id)
        assert row is not None
        row.idle_since = clock.now - timedelta(hours=1)
        session.add(row)
    again = await sms(hub, "SMb", "+14155550009")
    await route_interactions(hub)
    assert await offered(hub) == {again: alice.id}


async def test_a_pass_reads_only_queued_work_and_positions_read_offers_too(hub: Hub) -> None:
    from hub.routing_snapshot import load_snapshot

    first = await sms(hub, "SMq1", "+14155550001")
    agent = await add_agent(hub, "alice", available=True)
    await _single_capacity(hub, agent.id)
    assert await route_interactions(hub) == 1
    second = await sms(hub, "SMq2", "+14155550002")
    async with hub.store.session() as session:
        for_pass = await load_snapshot(session, hub.settings, hub.now(), states=("queued",))
        for_positions = await load_snapshot(session, hub.settings, hub.now())
    assert [i.id for i in for_pass.interactions] == [second]
    assert {i.id for i in for_positions.interactions} == {first, second}
    assert for_pass.agents[0].load == {"sms": 1}  # the ringing offer still counts


async def test_a_pass_whose_snapshot_went_stale_writes_nothing(hub: Hub) -> None:
    """The compare-and-set that keeps optimistic passes from ever overlapping."""
    from hub.actions.route_interactions import _fence, _fence_token

    async with hub.store.session() as session:
        token = await _fence_token(session)
    async with hub.transaction() as tx:
        assert await _fence(tx)  # another pass commits first
    async with hub.transaction() as tx:
        assert not await _fence(tx, expect=token)
    async with hub.transaction() as tx:
        assert await _fence(tx, expect=token + 1)


async def test_a_pass_with_nothing_waiting_costs_one_statement(hub: Hub) -> None:
    """Every wrap-up and every tick kicks a pass; with nothing queued it read seven statements
    (fence, expired offers, loads, pending wrap-ups, agents, queues, interactions) to offer
    nothing."""
    from tests.support.statements import counting

    await add_agent(hub, "alice", available=True)
    with counting(hub.store) as sent:
        assert await route_interactions(hub) == 0
    assert len(sent) == 1, sent
    first = await sms(hub, "SMg1", "+14155550001")
    with counting(hub.store) as sent:
        assert await route_interactions(hub) == 1
    assert sum("routing_fence" in s for s in sent) == 2  # the gate read, the compare-and-set
    assert first in await offered(hub)


async def test_the_pending_wrap_up_count_reads_only_recent_calls(tmp_path: Any) -> None:
    """Every pass counts the calls closed in the last minutes that wait for a disposition; on an
    index on state alone that read every closed interaction of the hub's history."""
    from datetime import UTC, datetime

    from hub.routing_snapshot import LOADS_AND_PENDING
    from hub.store import Store

    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'plan.db'}")
    await store.migrate()
    try:
        async with store.engine.connect() as conn:
            query = LOADS_AND_PENDING.params(since=datetime(2026, 1, 1, tzinfo=UTC))
            sql = str(query.compile(conn.sync_engine, compile_kwargs={"literal_binds": True}))
            plan = " | ".join(
                str(row[-1]) for row in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
            )
    finally:
        await store.close()
    assert "(state=? AND closed_at>?)" in plan, plan


async def test_decisions_gone_stale_write_no_offer(hub: Hub) -> None:
    """Between a pass's snapshot and its write the agent went away, or the call was closed:
    neither gets an offer, and a fresh decision still does."""
    from hub.actions.route_interactions import _write_offers
    from hub.actions.set_agent_status import set_agent_status
    from hub.routing_snapshot import load_snapshot
    from routing.engine import decide

    alice = await add_agent(hub, "alice", available=True)
    bob = await add_agent(hub, "bob", available=True)
    await _single_capacity(hub, alice.id)
    await _single_capacity(hub, bob.id)
    closed, kept = await sms(hub, "SMs1", "+14155550001"), await sms(hub, "SMs2", "+14155550002")
    async with hub.store.session() as session:
        snapshot = await load_snapshot(session, hub.settings, hub.now(), states=("queued",))
    decisions = decide(snapshot, hub.now().timestamp())
    assert {d.interaction_id for d in decisions} == {closed, kept}
    by_interaction = {d.interaction_id: d.agent_id for d in decisions}
    await set_agent_status(hub, by_interaction[kept], "away")
    async with hub.store.transaction() as session:
        it = await session.get(Interaction, closed)
        assert it is not None
        it.state = "abandoned"
        session.add(it)
    async with hub.transaction() as tx:
        assert await _write_offers(hub, tx, decisions, hub.now()) == 0
        assert tx.events == []
    async with hub.store.session() as session:
        states = {i.id: i.state for i in (await session.exec(select(Interaction))).all()}
        pending = (await session.exec(select(Offer))).all()
    assert states == {closed: "abandoned", kept: "queued"} and pending == []
    assert await route_interactions(hub) == 1
    assert await offered(hub) == {kept: by_interaction[closed]}


async def _sms_capacity(hub: Hub, agent_id: str, slots: int) -> None:
    async with hub.store.transaction() as session:
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        agent.capacity = {"sms": slots}
        session.add(agent)


async def test_a_pass_costs_about_the_same_statements_for_twenty_offers_as_for_one(
    hub: Hub, clock: ManualClock
) -> None:
    """A pass wrote its offers one by one (two UPDATEs each) and took timed-out offers back one
    by one (five statements each): over a 30 ms link to PostgreSQL, a pass of 100 offers spent
    6 s writing them and, once they timed out, 30 s taking them back, while the offers it made
    meanwhile expired before any console saw them (tests/faults/test_slow_and_broken_links.py).
    """
    from hub.actions.take_back_offers import expire_offers
    from tests.support.statements import counting

    hub.settings.routing.max_missed_offers = 1000  # the set-away write is not what is counted
    alice = await add_agent(hub, "alice", available=True)
    await _sms_capacity(hub, alice.id, 50)
    writes, takes = [], []
    for n, batch in enumerate((1, 20)):
        for k in range(batch):
            await sms(hub, f"SMn{n}-{k}", f"+1415555{n}{k:03d}")
        with counting(hub.store) as sent:
            assert await route_interactions(hub) == batch
        writes.append(len(sent))
        clock.advance(hub.settings.routing.offer_timeout_s + 1)
        with counting(hub.store) as sent:
            async with hub.transaction() as tx:
                await expire_offers(hub, tx, hub.now())
                assert len(tx.events) == 2 * batch  # offer.revoked, interaction.queued each
        takes.append(len(sent))
    # PostgreSQL's driver reports no row count for an executemany: one read of which offers took.
    assert writes[1] - writes[0] == (0 if hub.store.is_sqlite else 1), writes
    assert takes[0] == takes[1], takes
    async with hub.store.session() as session:
        agent = await session.get(Agent, alice.id)
        outcomes = Counter(o.outcome for o in (await session.exec(select(Offer))).all())
        its = (await session.exec(select(Interaction))).all()
    assert agent is not None and agent.missed_offers == 21
    assert outcomes == {"timeout": 21}
    assert {i.state for i in its} == {"queued"}
    assert all(i.excluded_agent_ids == [alice.id] for i in its)


async def test_an_offer_counts_down_from_when_it_is_written(hub: Hub, clock: ManualClock) -> None:
    """The countdown started at the pass's snapshot: a pass slow to write (a slow link, a long
    queue) handed out offers with less time than `offer_timeout_s`, or already expired."""
    from hub.actions.route_interactions import _write_offers
    from hub.routing_snapshot import load_snapshot
    from routing.engine import decide

    await add_agent(hub, "alice", available=True)
    await sms(hub, "SMc1", "+14155550001")
    decided_at = hub.now()
    async with hub.store.session() as session:
        snapshot = await load_snapshot(session, hub.settings, decided_at, states=("queued",))
    decisions = decide(snapshot, decided_at.timestamp())
    clock.advance(5)  # the pass took that long to get to its writes
    async with hub.transaction() as tx:
        assert await _write_offers(hub, tx, decisions, decided_at) == 1
        made = tx.events[0]
    async with hub.store.session() as session:
        offer = (await session.exec(select(Offer))).one()
    timeout = timedelta(seconds=hub.settings.routing.offer_timeout_s)
    assert offer.offered_at == clock.now and offer.expires_at == clock.now + timeout
    assert isinstance(made, OfferMade) and made.expires_at == (clock.now + timeout).timestamp()


async def test_an_agent_leaving_takes_back_every_offer_in_front_of_them(hub: Hub) -> None:
    """Going away revokes all of an agent's offers at once (take_back_offers.py),
    each back in the queue with the agent skipped for it; another agent's offer stays."""
    from hub.actions.set_agent_status import set_agent_status

    alice = await add_agent(hub, "alice", available=True)
    await _sms_capacity(hub, alice.id, 3)
    mine = {await sms(hub, f"SMl{k}", f"+141555501{k:02d}") for k in range(3)}
    assert await route_interactions(hub) == 3
    bob = await add_agent(hub, "bob", available=True)
    await _sms_capacity(hub, bob.id, 10)
    theirs = await sms(hub, "SMl9", "+14155550199")
    assert await route_interactions(hub) == 1  # alice is full
    await set_agent_status(hub, alice.id, "away")
    async with hub.store.session() as session:
        rows = {i.id: i for i in (await session.exec(select(Interaction))).all()}
        outcomes = Counter(o.outcome for o in (await session.exec(select(Offer))).all())
    assert {rows[i].state for i in mine} == {"queued"}
    assert all(rows[i].excluded_agent_ids == [alice.id] for i in mine)
    assert await offered(hub) == {theirs: bob.id}
    assert outcomes == {"revoked": 3, "pending": 1}
    assert await route_interactions(hub) == 3
    assert await offered(hub) == {i: bob.id for i in [*mine, theirs]}

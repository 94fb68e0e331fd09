"""Micro-benchmark of the console fan-out's reads: `customer_card`, `offer_payload` and
`message_payload` for a customer with past interactions, notes and orders, the payloads of a
routing pass's 100 offers (to 100 such customers) read one by one and together, the broadcaster
dispatching an `offer.made` and a batch of 50 `message.created` (to a recording emitter), and
the supervisor board with B2's 2,000 assigned chats over 100 agents, median of N.

Steadier than B1/B2 on a shared 2-core VM (no load generator, no sockets), so it is the figure
to compare before and after a change to those functions:

    python -m bench.console_payloads [--db sqlite|postgres] [-n 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from agent_console.broadcaster import Broadcaster
from agent_console.offer_fence import LocalFence
from agent_console.presenter import message_payload, offer_by_id, offer_payload, offers_by_id
from hub.board import board
from hub.board_traffic import TrafficTally
from hub.customers import customer_card
from hub.events import Event, MessageCreated, OfferMade
from hub.models import (
    Agent,
    Customer,
    CustomerIdentity,
    CustomerNote,
    Interaction,
    Message,
    Offer,
    Order,
    utcnow,
)
from hub.store import Store

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_NAME = "crmhub_bench_console_payloads"  # its own name: B1/B2 may run beside it


async def database(db: str) -> str:
    if db == "sqlite":
        return f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='crmhub-payloads-')}/hub.db"
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {PG_NAME} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {PG_NAME}")
    finally:
        await admin.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_NAME}"


async def seed(store: Store, past: int = 5, n: int = 0) -> tuple[str, str, str]:
    """A customer with `past` closed interactions (4 messages each), 3 notes, 4 orders, and a
    new chat offered to an agent: (customer id, offer id, id of the new chat's message). `n`
    tells one such customer's identities from another's."""
    start = utcnow() - timedelta(days=30)
    async with store.transaction() as s:
        c = Customer(name="Ada", tier="gold", tags=["vip"], rfm={"r": 5, "f": 4, "m": 3})
        s.add(c)
        s.add(CustomerIdentity(customer_id=c.id, kind="phone", value=f"+1555010{n:04d}"))
        s.add(CustomerIdentity(customer_id=c.id, kind="email", value=f"ada{n}@example.com"))
        for n in range(past + 1):
            at = start + timedelta(days=n)
            it = Interaction(customer_id=c.id, channel="sms", state="closed", created_at=at)
            if n == past:
                it.channel, it.state = "chat", "offered"
            s.add(it)
            for k in range(4):
                s.add(
                    Message(
                        interaction_id=it.id,
                        channel=it.channel,
                        direction="in" if k % 2 == 0 else "out",
                        body=f"message {k} of interaction {n} " * 5,
                        created_at=at + timedelta(minutes=k),
                    )
                )
        for n in range(3):
            s.add(CustomerNote(customer_id=c.id, body=f"note {n}", author_name="Bo"))
        for n in range(4):
            s.add(Order(customer_id=c.id, amount=10.0 * n, ordered_at=start + timedelta(days=n)))
        await s.flush()
        expires = utcnow() + timedelta(days=1)
        offer = Offer(interaction_id=it.id, agent_id="a", expires_at=expires)
        # Still open, so the broadcaster's re-read lets it through (it never did: the bench
        # timed an offer.made that emitted nothing).
        it.offer_id, it.offered_agent_id, it.offer_expires_at = offer.id, "a", expires
        s.add_all([offer, it])
        m = Message(interaction_id=it.id, channel="chat", direction="in", body="hello")
        s.add(m)
    return c.id, offer.id, m.id


async def chats(store: Store, count: int) -> list[tuple[str, str]]:
    """`count` assigned chats of other customers, one message each: (message id, chat id)."""
    out = []
    async with store.transaction() as s:
        for n in range(count):
            c = Customer(name=f"visitor {n}")
            it = Interaction(
                customer_id=c.id, channel="chat", state="assigned", assigned_agent_id="a"
            )
            m = Message(interaction_id=it.id, channel="chat", direction="in", body=f"hi {n}")
            s.add_all([c, it, m])
            out.append((m.id, it.id))
            await s.flush()
    return out


async def busy_floor(store: Store, agents: int = 100, chats: int = 2000) -> None:
    """B2's floor for the board: `agents` agents, each holding its share of `chats` chats, each
    chat with B2's three visitor lines (every other one answered once after the first)."""
    async with store.transaction() as s:
        staff = [Agent(id=f"b{n}", username=f"b{n}", status="available") for n in range(agents)]
        s.add_all(staff)
        for n in range(chats):
            c = Customer(name=f"busy visitor {n}")
            it = Interaction(
                customer_id=c.id,
                channel="chat",
                state="assigned",
                assigned_agent_id=staff[n % agents].id,
                assigned_at=utcnow(),
            )
            s.add_all([c, it])
            lines = ("in", "out", "in", "in") if n % 2 else ("in", "in", "in")
            s.add_all(
                Message(interaction_id=it.id, channel="chat", direction=d, body=f"line {k}")
                for k, d in enumerate(lines)
            )


class Discard:
    """An emitter that only counts: the broadcaster's own work is timed."""

    def __init__(self) -> None:
        self.names: Counter[str] = Counter()

    async def emit(self, event: str, data: Any = None, **_: Any) -> None:
        self.names[event] += 1


async def median_ms(n: int, step: Callable[[], Awaitable[Any]]) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        await step()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


async def run(
    db: str, n: int, floor: tuple[int, int] = (100, 2000), offers: int = 100
) -> dict[str, float]:
    store = Store(await database(db))
    try:
        await store.migrate()
        async with store.transaction() as s:  # offers reference an agent
            s.add(Agent(id="a", username="a"))
        customer_id, offer_id, message_id = await seed(store)

        async def card() -> None:
            async with store.session() as s:
                await customer_card(s, customer_id)

        async def offer() -> None:
            async with store.session() as s:
                found = await s.get(Offer, offer_id)
                assert found is not None
                await offer_payload(s, found)

        async def message() -> None:
            async with store.session() as s:
                found = await s.get(Message, message_id)
                assert found is not None
                await message_payload(s, found)

        emitted = Discard()
        hub = SimpleNamespace(store=store, now=utcnow)
        broadcaster = Broadcaster(hub, emitted, LocalFence())  # type: ignore[arg-type]
        async with store.session() as s:
            made = await s.get(Offer, offer_id)
        assert made is not None
        offer_made = OfferMade(
            offer_id=offer_id, interaction_id=made.interaction_id, agent_id="a", expires_at=0.0
        )
        created: list[Event] = [
            MessageCreated(message_id=m, interaction_id=i, direction="in")
            for m, i in await chats(store, 50)
        ]

        async def dispatch_offer() -> None:
            await broadcaster.handle([offer_made])

        async def dispatch_messages() -> None:
            await broadcaster.handle(created)

        pass_offers = [(await seed(store, n=k + 1))[1] for k in range(offers)]

        async def offers_one_by_one() -> None:
            async with store.fanout_session() as s:
                for offer_id in pass_offers:
                    await offer_by_id(s, offer_id)

        async def offers_together() -> None:
            async with store.fanout_session() as s:
                await offers_by_id(s, pass_offers)

        await busy_floor(store, *floor)

        tally = TrafficTally()  # the push loop's: kept from tick to tick

        async def supervisor_board() -> None:
            async with store.session() as s:
                await board(s, utcnow(), tally)

        figures = {
            "customer_card": await median_ms(n, card),
            "offer_payload": await median_ms(n, offer),
            "message_payload": await median_ms(n, message),
            f"{offers} offers one by one": await median_ms(max(n // 10, 5), offers_one_by_one),
            f"{offers} offers together": await median_ms(max(n // 10, 5), offers_together),
            "offer.made": await median_ms(n, dispatch_offer),
            "50 message.created": await median_ms(max(n // 10, 5), dispatch_messages),
            f"board, {floor[1]} x {floor[0]}": await median_ms(max(n // 10, 5), supervisor_board),
        }
        # What was timed did its work (a stand-in hub missing what the broadcaster reads
        # makes every dispatch fail, logged, in no time).
        assert emitted.names["offer"] == n and emitted.names["message.created"] > 0, emitted.names
        return figures
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.console_payloads")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("-n", type=int, default=200)
    args = parser.parse_args()
    for name, ms in asyncio.run(run(args.db, args.n)).items():
        print(f"{args.db:<8} {name:<24} median {ms:.2f} ms (n={args.n})")


if __name__ == "__main__":
    main()

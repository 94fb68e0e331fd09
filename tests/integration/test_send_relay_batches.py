"""The send relay claims, sends and records in batches: still exactly one send per message with
two hubs racing on one database, a status never moved back, and no send started so late that its
claim could expire before the outcome is written."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlmodel import select

from channels.base import OutboundMessage, SendResult
from hub.app import build_hub
from hub.context import Hub
from hub.models import Customer, Interaction, Message, OutboxEntry
from hub.relays import relay_sends
from tests.support.clock import ManualClock

pytestmark = pytest.mark.postgres


class RecordingSms:
    """A channel adapter that records what it was asked to send (shared by racing hubs)."""

    name = "sms"

    def __init__(self, sent: Counter[str]) -> None:
        self.sent = sent
        self.during_send: Callable[[OutboundMessage], Any] | None = None

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent[message.message_id] += 1
        if self.during_send is not None:
            await self.during_send(message)
        await asyncio.sleep(0)  # a provider round trip: let the other hub run
        return SendResult(provider_ref=f"SM{message.message_id}")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def hubs(
    db_url: str, make_settings: Callable[..., Any], clock: ManualClock
) -> AsyncIterator[list[Hub]]:
    settings = make_settings(database_url=db_url)
    made = [build_hub(settings, clock=clock) for _ in range(2)]
    await made[0].store.migrate()
    yield made
    for hub in made:
        await hub.store.close()


async def queue_replies(
    hub: Hub, conversations: int, per_conversation: int, clock: ManualClock
) -> list[str]:
    """Agent replies waiting in the outbox, as send_reply leaves them; returns the message ids."""
    ids: list[str] = []
    async with hub.store.transaction() as session:
        for c in range(conversations):
            customer = Customer(name=f"c{c}")
            it = Interaction(
                customer_id=customer.id,
                channel="sms",
                state="assigned",
                customer_address=f"+1650{c:07d}",
                hub_address="+15550001111",
            )
            session.add_all([customer, it])
            for n in range(per_conversation):
                msg = Message(
                    interaction_id=it.id,
                    channel="sms",
                    direction="out",
                    body=f"{c}.{n}",
                    status="queued",
                )
                out = OutboxEntry(
                    kind="send",
                    payload={"message_id": msg.id, "interaction_id": it.id},
                    next_attempt_at=clock(),
                )
                session.add_all([msg, out])
                ids.append(msg.id)
    return ids


async def outbox_rows(hub: Hub) -> list[OutboxEntry]:
    async with hub.store.session() as session:
        return list(
            (await session.exec(select(OutboxEntry).where(OutboxEntry.kind == "send"))).all()
        )


async def test_two_hubs_racing_send_each_message_once(hubs: list[Hub], clock: ManualClock) -> None:
    sent: Counter[str] = Counter()
    for hub in hubs:
        hub.channels["sms"] = RecordingSms(sent)
    ids = await queue_replies(hubs[0], conversations=60, per_conversation=5, clock=clock)
    tried = await asyncio.gather(*(relay_sends(h) for h in hubs for _ in range(2)))
    assert sum(tried) == len(ids)  # every row claimed by exactly one relay
    assert sent == Counter({i: 1 for i in ids})
    assert all(row.done for row in await outbox_rows(hubs[0]))
    async with hubs[0].store.session() as session:
        messages = (await session.exec(select(Message))).all()
    assert {m.status for m in messages} == {"sent"}


async def test_a_status_callback_during_the_send_is_not_moved_back(
    hubs: list[Hub], clock: ManualClock
) -> None:
    hub = hubs[0]
    sms = RecordingSms(Counter())
    hub.channels["sms"] = sms

    async def delivered_at_once(message: OutboundMessage) -> None:
        async with hub.store.transaction() as session:
            row = await session.get(Message, message.message_id)
            assert row is not None
            row.status = "delivered"
            session.add(row)

    sms.during_send = delivered_at_once
    (message_id,) = await queue_replies(hub, 1, 1, clock)
    assert await relay_sends(hub) == 1
    async with hub.store.session() as session:
        stored = await session.get(Message, message_id)
    assert stored is not None
    assert stored.status == "delivered" and stored.provider_ref == f"SM{message_id}"


async def test_a_send_not_started_within_half_its_claim_waits_for_the_next_claim(
    hubs: list[Hub], clock: ManualClock
) -> None:
    """Another process may claim the row once the claim expires: starting the send that late
    could send it twice. The first reply of a conversation takes most of the claim time (a slow
    provider); the second is left alone and goes out, once, after the claim has expired."""
    hub = hubs[0]
    sent: Counter[str] = Counter()
    sms = RecordingSms(sent)
    hub.channels["sms"] = sms
    claim_s = hub.settings.send_claim_s

    async def slow(message: OutboundMessage) -> None:
        clock.advance(claim_s * 0.6)

    sms.during_send = slow
    first, second = await queue_replies(hub, 1, 2, clock)
    assert await relay_sends(hub) == 2
    assert sent == Counter({first: 1})
    sms.during_send = None
    assert await relay_sends(hub) == 0  # still claimed
    clock.advance(claim_s)
    assert await relay_sends(hub) == 1
    assert sent == Counter({first: 1, second: 1})
    assert all(row.done for row in await outbox_rows(hub))

"""A customer with history, notes, orders and an offered chat with attachments: the data the
console payload tests pin their expected dicts on (tests/integration/test_console_payloads.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hub.context import Hub
from hub.models import (
    Agent,
    Customer,
    CustomerIdentity,
    CustomerNote,
    Interaction,
    Message,
    Offer,
    Order,
    StoredAttachment,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
OPEN_UNTIL = datetime(2100, 1, 1, tzinfo=UTC)
LONG = "<b>untrusted</b> & é 😀 " + "x" * 300


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@dataclass
class Seeded:
    customer: str = "c1"
    offer: str = "o1"
    live: str = "i7"  # the offered chat


async def seed(hub: Hub) -> Seeded:
    """A customer with 8 interactions (the card shows the newest 6), notes, orders, and an
    offered chat whose messages carry attachments."""
    async with hub.store.transaction() as s:
        s.add(Agent(id="a1", username="alice"))
        s.add(
            Customer(
                id="c1",
                name="Ada <script>",
                tier="gold",
                tier_reasons=["ltv"],
                lifetime_value=1234.5,
                tags=["vip", "b2b"],
                rfm={"r": 5, "f": 4, "m": 3},
                churn_risk=True,
                churn_reasons=["quiet"],
                preferences={"channel": "sms"},
                consent={"sms": False},
                language="de",
                company="ACME",
            )
        )
        s.add(Customer(id="c2", name="Other"))
        s.add(CustomerIdentity(id="id1", customer_id="c1", kind="phone", value="+15550100"))
        s.add(CustomerIdentity(id="id2", customer_id="c1", kind="email", value="ada@x.test"))
        s.add(CustomerIdentity(id="id3", customer_id="c2", kind="chat", value="v-2"))
        for n in range(8):
            s.add(
                Interaction(
                    id=f"i{n}",
                    customer_id="c1",
                    channel="chat" if n == 7 else "sms",
                    state="offered" if n == 7 else "closed",
                    subject=f"subject {n}",
                    created_at=at(n * 100),
                    disposition="" if n == 7 else "resolved",
                    assigned_agent_id=None if n == 7 else "a1",
                    offered_agent_id="a1" if n == 7 else None,
                    offer_id="o1" if n == 7 else None,
                    # Live whatever the test's clock: an expired offer is never emitted.
                    offer_expires_at=OPEN_UNTIL if n == 7 else None,
                    priority=2.345,
                )
            )
        s.add(Interaction(id="j1", customer_id="c2", channel="sms", created_at=at(950)))
        await s.flush()
        rows = [
            ("m0", "i0", "in", "first", 1),
            ("m1", "i1", "in", "question", 101),
            ("m2", "i1", "out", LONG, 102),  # the preview: newest in/out, cut to 140
            ("m3", "i1", "note", "internal", 103),  # notes are never a preview
            # i2 has no message at all: empty preview
            ("m4", "i3", "out", "older", 301),
            ("m5", "i3", "in", "newer", 302),
            ("m6", "i4", "note", "only a note", 401),
            ("m7", "i5", "in", "five", 501),
            ("m8", "i6", "out", "six", 601),
            ("m9", "i7", "in", "hello", 701),
            ("m10", "i7", "in", "photo", 702),
            ("m11", "j1", "in", "someone else's", 951),
        ]
        for mid, it, direction, body, minute in rows:
            s.add(
                Message(
                    id=mid,
                    interaction_id=it,
                    channel="chat" if it == "i7" else "sms",
                    direction=direction,
                    sender="+15550100",
                    body=body,
                    created_at=at(minute),
                )
            )
        await s.flush()
        s.add(StoredAttachment(id="f1", message_id="m10", filename="a.png", size=3, data=b"abc"))
        s.add(StoredAttachment(id="f2", message_id="m10", filename="big.bin", size=9, data=None))
        for n in range(4):
            s.add(
                CustomerNote(
                    customer_id="c1",
                    body=f"note {n} " + "y" * 400,
                    author_name=f"author {n}",
                    created_at=at(n),
                )
            )
        s.add(Order(customer_id="c1", amount=5.0, ordered_at=at(10)))
        s.add(Order(customer_id="c1", amount=7.0, ordered_at=at(20)))
        s.add(
            Offer(
                id="o1",
                interaction_id="i7",
                agent_id="a1",
                expires_at=at(800),
                priority_explain="gold tier",
            )
        )
    return Seeded()

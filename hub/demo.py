"""Demo data for the embedded quick start: agents with printed passwords, customers with history."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import select

from hub.auth import hash_password
from hub.context import Hub
from hub.models import Agent, Customer, CustomerIdentity, Interaction, Message, Order


@dataclass(frozen=True, slots=True)
class DemoLogin:
    username: str
    password: str
    role: str


AGENTS: tuple[tuple[str, str, str, list[str], dict[str, int]], ...] = (
    ("alice", "Alice Agent", "agent", ["support", "sales", "vip"], {"sales": 5, "vip": 3}),
    ("bob", "Bob Agent", "agent", ["support"], {}),
    ("sam", "Sam Supervisor", "supervisor", ["support"], {}),
)
CUSTOMERS: tuple[tuple[str, str, float, str, str, list[str]], ...] = (
    ("Vera Important", "vip", 182_000.0, "+14155550101", "vera@example.com", ["key account"]),
    ("Eddie Enterprise", "enterprise", 64_000.0, "+14155550102", "eddie@corp.example", []),
    ("Hannah Household", "household", 2_400.0, "+14155550103", "hannah@example.org", []),
    ("Stan Standard", "standard", 120.0, "+14155550104", "stan@example.net", []),
)


async def seed_demo(hub: Hub) -> list[DemoLogin]:
    """Idempotent: a second start changes nothing and prints no passwords (they are not stored)."""
    async with hub.store.transaction() as session:
        if (await session.exec(select(Agent).limit(1))).first() is not None:
            return []
        logins = []
        for username, name, role, queues, skills in AGENTS:
            password = secrets.token_urlsafe(9)
            session.add(
                Agent(
                    username=username,
                    display_name=name,
                    role=role,
                    queues=queues,
                    skills=skills,
                    password_hash=hash_password(password),
                )
            )
            logins.append(DemoLogin(username, password, role))
        now = hub.now()
        for i, (name, tier, value, phone, email, tags) in enumerate(CUSTOMERS):
            customer = Customer(name=name, tier=tier, lifetime_value=value, tags=tags)
            session.add(customer)
            session.add(CustomerIdentity(customer_id=customer.id, kind="phone", value=phone))
            session.add(CustomerIdentity(customer_id=customer.id, kind="email", value=email))
            session.add(
                Order(
                    customer_id=customer.id,
                    external_ref=f"ORD-{1000 + i}",
                    amount=value / 10,
                    product="Annual plan",
                    ordered_at=now - timedelta(days=30 * (i + 1)),
                )
            )
            past = Interaction(
                customer_id=customer.id,
                channel="email",
                state="closed",
                subject="Question about my invoice",
                customer_address=email,
                disposition="resolved",
                created_at=now - timedelta(days=7 + i),
                enqueued_at=now - timedelta(days=7 + i),
                closed_at=now - timedelta(days=7 + i),
            )
            session.add(past)
            session.add(
                Message(
                    interaction_id=past.id,
                    channel="email",
                    direction="in",
                    sender=email,
                    subject=past.subject,
                    body="Hello, could you explain the second line of my invoice?",
                    created_at=past.created_at,
                )
            )
    return logins

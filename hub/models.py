"""SQLModel tables: the source of truth (Redis only holds derived or transient state)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import JSON, Column, Field, SQLModel


def new_id() -> str:
    """Unguessable ids: public URLs and socket events must not expose sequences."""
    return secrets.token_hex(12)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite and PostgreSQL then behave the same."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _json(default: Any) -> Any:
    return Field(default_factory=lambda: default.copy(), sa_column=Column(JSON, nullable=False))


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(default="", max_length=200, index=True)
    kind: str = Field(default="person", max_length=20)  # person | household | enterprise
    tier: str = Field(default="standard", max_length=20)
    tier_reasons: list[str] = _json([])
    lifetime_value: float = 0.0
    company: str = Field(default="", max_length=200)
    contact_person: str = Field(default="", max_length=200)
    search_name: str = Field(default="", max_length=200, index=True)  # lower-cased name
    language: str = Field(default="", max_length=16)
    timezone: str = Field(default="", max_length=64)
    address: str = Field(default="", max_length=500)
    account_manager_id: str | None = Field(default=None, max_length=32)
    parent_id: str | None = Field(default=None, max_length=32)  # household / enterprise account
    merged_into_id: str | None = Field(default=None, max_length=32, index=True)
    tags: list[str] = _json([])
    preferences: dict[str, Any] = _json({})
    consent: dict[str, bool] = _json({})  # channel -> False when opted out
    rfm: dict[str, int] = _json({})  # recency / frequency / monetary quintile scores, 1..5
    churn_risk: bool = False
    churn_reasons: list[str] = _json([])
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CustomerIdentity(SQLModel, table=True):
    __tablename__ = "customer_identities"
    __table_args__ = (sa.UniqueConstraint("kind", "value", name="uq_identity_kind_value"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=32)
    kind: str = Field(max_length=16)  # phone | email | chat | external
    value: str = Field(max_length=320)  # E.164 phone, lower-cased email, chat identity
    confidence: str = Field(default="known", max_length=16)  # verified | known | maybe
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CustomerNote(SQLModel, table=True):
    __tablename__ = "customer_notes"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=32)
    author_agent_id: str | None = Field(default=None, max_length=32)
    author_name: str = Field(default="", max_length=200)
    body: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CustomerMerge(SQLModel, table=True):
    """What a merge moved, so an unmerge can move exactly that back."""

    __tablename__ = "customer_merges"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    survivor_id: str = Field(foreign_key="customers.id", index=True, max_length=32)
    merged_id: str = Field(foreign_key="customers.id", index=True, max_length=32)
    moved: dict[str, list[str]] = _json({})  # table -> ids
    actor: str = Field(default="", max_length=64)
    merged_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    undone_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class BackofficeRecord(SQLModel, table=True):
    """The back-office (ERP / shop) lookup's last answer for a customer."""

    __tablename__ = "backoffice_records"
    customer_id: str = Field(foreign_key="customers.id", primary_key=True, max_length=32)
    data: dict[str, Any] = _json({})
    fetched_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    error: str = Field(default="", max_length=500)


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=32)
    external_ref: str = Field(default="", max_length=100)
    amount: float = 0.0
    currency: str = Field(default="USD", max_length=3)
    product: str = Field(default="", max_length=200)
    ordered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Queue(SQLModel, table=True):
    __tablename__ = "queues"
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(default="", max_length=200)
    channels: list[str] = _json(["voice", "sms", "email", "chat"])
    required_skills: dict[str, int] = _json({})
    language: str | None = Field(default=None, max_length=16)
    answer_target_s: float = 20.0
    service_level_pct: float = 80.0
    strategy: str = Field(default="longest_idle", max_length=32)
    overflow_after_s: float | None = None
    overflow_to: str | None = Field(default=None, max_length=64)
    overflow_min_level: int | None = None
    timezone: str = Field(default="UTC", max_length=64)
    hours: list[dict[str, Any]] = _json([])
    avg_handle_s: float = 180.0
    managed_by: str = Field(default="config", max_length=16)  # config | api


class Agent(SQLModel, table=True):
    __tablename__ = "agents"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    username: str = Field(max_length=64, unique=True, index=True)
    display_name: str = Field(default="", max_length=200)
    password_hash: str = Field(default="", max_length=200)
    role: str = Field(default="agent", max_length=16)  # agent | supervisor | admin
    status: str = Field(default="offline", max_length=16)  # available | away | offline
    status_reason: str = Field(default="", max_length=100)
    status_since: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    queues: list[str] = _json(["support"])
    skills: dict[str, int] = _json({})
    languages: list[str] = _json(["en"])
    capacity: dict[str, int] = _json({"voice": 1, "sms": 3, "chat": 3, "email": 5})
    idle_since: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_offered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    wrapup_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    missed_offers: int = 0
    phone: str = Field(default="", max_length=32)
    client_identity: str = Field(default="", max_length=100)


class AuthToken(SQLModel, table=True):
    __tablename__ = "auth_tokens"
    token_hash: str = Field(
        primary_key=True, max_length=64
    )  # sha256; the token itself is never stored
    agent_id: str = Field(foreign_key="agents.id", index=True, max_length=32)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Interaction(SQLModel, table=True):
    """One piece of work: a call, an email thread, an SMS conversation, a chat."""

    __tablename__ = "interactions"
    __table_args__ = (
        sa.UniqueConstraint("channel", "provider_ref", name="uq_interaction_provider_ref"),
        # state first serves every lookup by state; closed_at second lets a routing pass count
        # the recent calls still waiting for a disposition without reading every closed one.
        sa.Index("ix_interactions_state_closed_at", "state", "closed_at"),
        # The supervisor board counts the day's interactions every 2 s, and reports count a
        # period's: without it each read scanned every interaction ever stored.
        sa.Index("ix_interactions_created_at", "created_at"),
        # A batch finds its customers' open conversations by all three; with customer_id alone
        # indexed SQLite preferred the (channel, provider_ref) index and read the whole channel.
        sa.Index("ix_interactions_customer_channel_state", "customer_id", "channel", "state"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    customer_id: str = Field(foreign_key="customers.id", max_length=32)
    channel: str = Field(max_length=16)
    direction: str = Field(default="in", max_length=8)
    provider_ref: str | None = Field(default=None, max_length=200)  # CallSid etc.; NULL for SMS
    queue_id: str = Field(default="support", max_length=64)
    # queued -> offered -> assigned -> wrapup -> closed; or abandoned / closed from queued
    state: str = Field(default="queued", max_length=16)
    subject: str = Field(default="", max_length=500)
    customer_address: str = Field(default="", max_length=320)  # where replies go
    hub_address: str = Field(default="", max_length=320)  # our number / mailbox it came to
    enqueued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    offered_agent_id: str | None = Field(default=None, max_length=32)
    offer_id: str | None = Field(default=None, max_length=32)
    offer_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    excluded_agent_ids: list[str] = _json([])
    # The exclusions hold until then (none in force without it): routing/engine.py `excluded`.
    excluded_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    preferred_agent_id: str | None = Field(default=None, max_length=32)
    assigned_agent_id: str | None = Field(default=None, max_length=32, index=True)
    assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    priority: float = 0.0
    priority_explain: str = Field(default="", max_length=500)
    priority_parts: list[dict[str, Any]] = _json([])
    disposition: str = Field(default="", max_length=64)
    wrapup_note: str = Field(default="", max_length=2000)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    meta: dict[str, Any] = _json({})


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("channel", "provider_ref", name="uq_message_provider_ref"),
        # The board asks, for each inbound line of a live conversation, whether a reply came at
        # or after it: one seek with all three (hub/board.py AWAITING_REPLY). Its interaction_id
        # prefix serves every read of a conversation's messages.
        sa.Index(
            "ix_messages_interaction_direction_created", "interaction_id", "direction", "created_at"
        ),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    interaction_id: str = Field(foreign_key="interactions.id", max_length=32)
    channel: str = Field(max_length=16)
    direction: str = Field(max_length=8)  # in | out
    provider_ref: str | None = Field(default=None, max_length=200)  # MessageSid, Message-ID
    sender: str = Field(default="", max_length=320)
    author_agent_id: str | None = Field(default=None, max_length=32)
    subject: str = Field(default="", max_length=500)
    body: str = Field(default="", sa_type=sa.Text)
    status: str = Field(
        default="received", max_length=16
    )  # received | queued | sent | delivered | failed
    error: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    meta: dict[str, Any] = _json({})


class Offer(SQLModel, table=True):
    __tablename__ = "offers"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    interaction_id: str = Field(foreign_key="interactions.id", index=True, max_length=32)
    agent_id: str = Field(foreign_key="agents.id", index=True, max_length=32)
    offered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    outcome: str = Field(
        default="pending", max_length=16
    )  # pending|accepted|rejected|timeout|revoked
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    priority_explain: str = Field(default="", max_length=500)


class OutboxEntry(SQLModel, table=True):
    """Written in the same transaction as the change it announces; relayed after commit."""

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_pending", "kind", "done", "next_attempt_at"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    kind: str = Field(max_length=16)  # event | send
    payload: dict[str, Any] = _json({})
    done: bool = False
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_error: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MailCheckpoint(SQLModel, table=True):
    """IMAP position per mailbox: UIDVALIDITY and the last UID delivered to the hub."""

    __tablename__ = "mail_checkpoints"
    mailbox_key: str = Field(primary_key=True, max_length=300)
    uidvalidity: int | None = None
    last_uid: int = 0


class RoutingFence(SQLModel, table=True):
    """One row; every routing pass bumps it first, which serializes passes across processes."""

    __tablename__ = "routing_fence"
    id: int = Field(default=1, primary_key=True)
    token: int = 0


class StoredAttachment(SQLModel, table=True):
    """A file that came with a message (email attachment, chat upload), kept in the database
    (bounded by `max_attachment_bytes`), served only to those who may open the interaction."""

    __tablename__ = "attachments"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    message_id: str = Field(foreign_key="messages.id", index=True, max_length=32)
    filename: str = Field(default="", max_length=255)
    content_type: str = Field(default="application/octet-stream", max_length=100)
    size: int = 0
    data: bytes | None = Field(default=None, sa_type=sa.LargeBinary)  # None: over the limit
    url: str | None = Field(default=None, max_length=1000)  # provider-hosted (MMS media)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(default="", max_length=64)
    action: str = Field(max_length=64)
    target: str = Field(default="", max_length=200)
    detail: dict[str, Any] = _json({})


@sa.event.listens_for(Customer, "before_insert")
@sa.event.listens_for(Customer, "before_update")
def _search_name(_mapper: Any, _conn: Any, customer: Customer) -> None:
    customer.search_name = search_name(customer.name)


def search_name(name: str) -> str:
    """Case-folded once on write so search can use a plain (trigram-indexed) LIKE."""
    return name.casefold()[:200]

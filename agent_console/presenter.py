"""Socket.IO payloads: the one place that decides what a console sees of an interaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.customer_cards import customer_cards
from hub.customers import customer_card
from hub.models import Agent, Interaction, Message, Offer, StoredAttachment, utcnow
from hub.settings import Settings
from hub.tables import ATTACHMENTS_TABLE, INTERACTIONS, core

RECENT_MESSAGES = 50
RINGING_AT_MOST = timedelta(hours=1)


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def agent_dict(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "username": agent.username,
        "display_name": agent.display_name or agent.username,
        "role": agent.role,
        "status": agent.status,
        "status_reason": agent.status_reason,
        "queues": agent.queues,
        "capacity": agent.capacity,
    }


def interaction_dict(it: Any) -> dict[str, Any]:
    """`it`: an Interaction, or a row of INTERACTION_COLUMNS."""
    return {
        "id": it.id,
        "customer_id": it.customer_id,
        "channel": it.channel,
        "state": it.state,
        "queue_id": it.queue_id,
        "subject": it.subject,
        "customer_address": it.customer_address,
        "assigned_agent_id": it.assigned_agent_id,
        "priority": round(it.priority, 1),
        "priority_explain": it.priority_explain,
        "enqueued_at": iso(it.enqueued_at),
        "disposition": it.disposition,
        # A call the hangup closed still waits for the agent's disposition (wrap-up).
        "needs_wrapup": it.state == "closed" and not it.disposition and bool(it.assigned_agent_id),
        "direction": it.direction,
        "error": str(it.meta.get("connect_error", "")),
        # A call-back task not called yet: the console offers to place the call.
        "call_pending": it.channel == "voice" and it.direction == "out" and not it.provider_ref,
    }


def attachment_dict(a: Any) -> dict[str, Any]:
    """`a`: a row of ATTACHMENT_COLUMNS (`stored` is computed in SQL)."""
    return {
        "id": a.id,
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "stored": bool(a.stored),
    }


# Never the file itself: a console needs to know that it is stored, not its bytes (an email's
# attachments were read in full for every offer and every message event).
ATTACHMENT_COLUMNS = (
    core(StoredAttachment.id),
    core(StoredAttachment.message_id),
    core(StoredAttachment.filename),
    core(StoredAttachment.content_type),
    core(StoredAttachment.size),
    core(StoredAttachment.data).is_not(None).label("stored"),
)
# Statements built once: building them per call cost about as much CPU as running them.
ATTACHMENTS = sa.select(*ATTACHMENT_COLUMNS).where(
    core(StoredAttachment.message_id).in_(sa.bindparam("ids", expanding=True))
)


async def attachments_of(
    session: AsyncSession, message_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    if not message_ids:
        return found
    rows = await session.execute(ATTACHMENTS, {"ids": message_ids})
    for a in rows:
        found.setdefault(a.message_id, []).append(attachment_dict(a))
    return found


async def message_payload(session: AsyncSession, m: Message) -> dict[str, Any]:
    """One message with its attachments (what events carry)."""
    return message_dict(m, (await attachments_of(session, [m.id])).get(m.id, []))


# What message_dict reads: selecting these rather than Message entities skips the ORM's identity
# map and the unused `meta` JSON for every message of every offer.
MESSAGE_COLUMNS = (
    core(Message.id),
    core(Message.interaction_id),
    core(Message.channel),
    core(Message.direction),
    core(Message.sender),
    core(Message.author_agent_id),
    core(Message.subject),
    core(Message.body),
    core(Message.status),
    core(Message.error),
    core(Message.created_at),
)
# The id breaks ties, so the single read (_RECENT) and the batched one (_RANKED) agree.
MESSAGES_NEWEST_FIRST = (core(Message.created_at).desc(), core(Message.id).desc())
_RECENT = (
    sa.select(*MESSAGE_COLUMNS)
    .where(core(Message.interaction_id) == sa.bindparam("interaction_id"))
    .order_by(*MESSAGES_NEWEST_FIRST)
    .limit(RECENT_MESSAGES)
    .subquery("recent")
)
# The last messages with their attachments in one query (was a second one for the attachments
# on every offer and assignment, almost always finding none).
FILE_COLUMNS: tuple[Any, ...] = (
    core(StoredAttachment.id).label("file_id"),
    core(StoredAttachment.filename).label("file_name"),
    core(StoredAttachment.content_type).label("file_type"),
    core(StoredAttachment.size).label("file_size"),
    core(StoredAttachment.data).is_not(None).label("file_stored"),
)


def joined_file(row: Any) -> dict[str, Any]:
    """attachment_dict of a row that carries FILE_COLUMNS."""
    return {
        "id": row.file_id,
        "filename": row.file_name,
        "content_type": row.file_type,
        "size": row.file_size,
        "stored": bool(row.file_stored),
    }


MESSAGES_OF = (
    sa.select(_RECENT, *FILE_COLUMNS)
    .outerjoin(ATTACHMENTS_TABLE, core(StoredAttachment.message_id) == _RECENT.c.id)
    .order_by(
        _RECENT.c.created_at.desc(),
        _RECENT.c.id.desc(),
        core(StoredAttachment.created_at),
        core(StoredAttachment.id),
    )
)
# MESSAGES_OF for many interactions (offers_by_id): the newest of each from a
# window, in MESSAGES_OF's order.
_RANKED = (
    sa.select(
        *MESSAGE_COLUMNS,
        sa.func.row_number()
        .over(
            partition_by=core(Message.interaction_id),
            order_by=MESSAGES_NEWEST_FIRST,
        )
        .label("n"),
    )
    .where(core(Message.interaction_id).in_(sa.bindparam("ids", expanding=True)))
    .subquery("ranked")
)
_RECENT_MANY = sa.select(_RANKED).where(_RANKED.c.n <= RECENT_MESSAGES).subquery("recent")
MESSAGES_OF_MANY = (
    sa.select(_RECENT_MANY, *FILE_COLUMNS)
    .outerjoin(ATTACHMENTS_TABLE, core(StoredAttachment.message_id) == _RECENT_MANY.c.id)
    .order_by(
        _RECENT_MANY.c.interaction_id,
        _RECENT_MANY.c.n,
        core(StoredAttachment.created_at),
        core(StoredAttachment.id),
    )
)


def message_dict(m: Any, attachments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`m`: a Message or a row of MESSAGE_COLUMNS."""
    return {
        "attachments": attachments or [],
        "id": m.id,
        "interaction_id": m.interaction_id,
        "channel": m.channel,
        "direction": m.direction,
        "sender": m.sender,
        "author_agent_id": m.author_agent_id,
        "subject": m.subject,
        "body": m.body,
        "status": m.status,
        "error": m.error,
        "created_at": iso(m.created_at),
    }


async def messages_of(session: AsyncSession, interaction_id: str) -> list[dict[str, Any]]:
    """The interaction's last RECENT_MESSAGES messages, oldest first, with their files."""
    rows = await session.execute(MESSAGES_OF, {"interaction_id": interaction_id})
    return oldest_first(list(rows))


def oldest_first(newest_first_rows: list[Any]) -> list[dict[str, Any]]:
    """Messages from rows of MESSAGES_OF (newest first, a row per file) as payloads."""
    newest_first: list[dict[str, Any]] = []
    for row in newest_first_rows:
        if not newest_first or newest_first[-1]["id"] != row.id:
            newest_first.append(message_dict(row))
        if row.file_id is not None:
            newest_first[-1]["attachments"].append(joined_file(row))
    return newest_first[::-1]


async def messages_of_many(
    session: AsyncSession, interaction_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """messages_of for each interaction, in one statement."""
    rows: dict[str, list[Any]] = {}
    if interaction_ids:
        for row in await session.execute(MESSAGES_OF_MANY, {"ids": sorted(interaction_ids)}):
            rows.setdefault(row.interaction_id, []).append(row)
    return {i: oldest_first(rows.get(i, [])) for i in interaction_ids}


async def work_item(session: AsyncSession, it: Any) -> dict[str, Any]:
    """An interaction with its customer's 360 card and its messages: what an offer shows."""
    return {
        "interaction": interaction_dict(it),
        "customer": await customer_card(session, it.customer_id),
        "messages": await messages_of(session, it.id),
    }


async def offer_payload(session: AsyncSession, offer: Offer) -> dict[str, Any] | None:
    it = await session.get(Interaction, offer.interaction_id)
    if it is None:
        return None
    return await offer_item(session, offer, it)


# What interaction_dict and work_item read, as columns: an offer (every one an agent sees) read
# its Offer and Interaction as entities, the interaction's JSON fields and all.
INTERACTION_COLUMNS = (
    core(Interaction.id),
    core(Interaction.customer_id),
    core(Interaction.channel),
    core(Interaction.state),
    core(Interaction.queue_id),
    core(Interaction.subject),
    core(Interaction.customer_address),
    core(Interaction.assigned_agent_id),
    core(Interaction.priority),
    core(Interaction.priority_explain),
    core(Interaction.enqueued_at),
    core(Interaction.disposition),
    core(Interaction.direction),
    core(Interaction.meta),
    core(Interaction.provider_ref),
)
_OFFER_AND_INTERACTION = sa.select(
    core(Offer.id).label("offer_id"),
    core(Offer.expires_at).label("offer_expires_at"),
    core(Offer.priority_explain).label("offer_explain"),
    *INTERACTION_COLUMNS,
).join(INTERACTIONS, core(Interaction.id) == core(Offer.interaction_id))
OFFER_WITH_INTERACTION = _OFFER_AND_INTERACTION.where(core(Offer.id) == sa.bindparam("offer_id"))
OFFERS_WITH_INTERACTIONS = _OFFER_AND_INTERACTION.where(
    core(Offer.id).in_(sa.bindparam("ids", expanding=True))
)


async def offer_by_id(session: AsyncSession, offer_id: str) -> dict[str, Any] | None:
    """An offer's payload, the offer and its interaction read in one query (offer.made)."""
    row = (await session.execute(OFFER_WITH_INTERACTION, {"offer_id": offer_id})).first()
    if row is None:
        return None
    return offer_dict(row, await work_item(session, row))


def offer_dict(row: Any, item: dict[str, Any]) -> dict[str, Any]:
    """`row`: of OFFER_WITH_INTERACTION; `item`: its work_item."""
    return {
        "offer_id": row.offer_id,
        "expires_at": iso(row.offer_expires_at),
        "priority_explain": row.offer_explain,
        **item,
    }


async def offers_by_id(session: AsyncSession, offer_ids: list[str]) -> dict[str, dict[str, Any]]:
    """offer_by_id for many offers in six statements (it is seven per offer): a routing pass
    makes up to an agent's capacity of offers at once (agent_console/broadcaster.py)."""
    if not offer_ids:
        return {}
    rows = list(await session.execute(OFFERS_WITH_INTERACTIONS, {"ids": sorted(offer_ids)}))
    cards = await customer_cards(session, {row.customer_id for row in rows})
    messages = await messages_of_many(session, [row.id for row in rows])
    return {
        row.offer_id: offer_dict(
            row,
            {
                "interaction": interaction_dict(row),
                "customer": cards[row.customer_id],
                "messages": messages[row.id],
            },
        )
        for row in rows
    }


async def offer_item(session: AsyncSession, offer: Offer, it: Interaction) -> dict[str, Any]:
    return {
        "offer_id": offer.id,
        "expires_at": iso(offer.expires_at),
        "priority_explain": offer.priority_explain,
        **await work_item(session, it),
    }


def console_config(settings: Settings) -> dict[str, Any]:
    """What every console needs from the configuration: wrap-up codes and canned responses."""
    return {
        "dispositions": [d.model_dump() for d in settings.console.dispositions],
        "canned_responses": [c.model_dump() for c in settings.console.canned_responses],
    }


def open_for_agent(agent_id: str) -> Any:
    """Assigned work, plus ended calls still waiting for this agent's disposition."""
    return sa.or_(
        col(Interaction.state) == "assigned",
        sa.and_(col(Interaction.state) == "closed", col(Interaction.disposition) == ""),
    ) & (col(Interaction.assigned_agent_id) == agent_id)


async def agent_state(
    session: AsyncSession, agent: Agent, settings: Settings | None = None
) -> dict[str, Any]:
    """The whole console in one payload: applied events on top of it must equal a fresh one."""
    offers = (
        await session.exec(
            select(Offer)
            .join(Interaction, col(Interaction.offer_id) == col(Offer.id))
            .where(
                Offer.agent_id == agent.id,
                Offer.outcome == "pending",
                Interaction.state == "offered",
            )
        )
    ).all()
    assigned = (
        await session.exec(
            select(Interaction)
            .where(open_for_agent(agent.id))
            .order_by(col(Interaction.assigned_at))
        )
    ).all()
    offer_items = [p for o in offers if (p := await offer_payload(session, o)) is not None]
    ringing = (
        await session.exec(
            select(Interaction)
            .where(
                Interaction.state == "ringing",
                Interaction.channel == "voice",
                # A PBX that never sent the hangup must not leave a pop up forever.
                col(Interaction.created_at) >= utcnow() - RINGING_AT_MOST,
            )
            .order_by(col(Interaction.created_at).desc())
            .limit(100)
        )
    ).all()
    return {
        "agent": agent_dict(agent),
        "offers": offer_items,
        "interactions": [await work_item(session, it) for it in assigned],
        # PBX calls ringing for this agent (CTI screen-pop): answered on the phone, not here.
        "ringing": [
            await work_item(session, it) for it in ringing if agent.id in it.meta.get("popped", [])
        ],
        "config": console_config(settings) if settings is not None else None,
    }

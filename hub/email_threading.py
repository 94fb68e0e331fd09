"""Threading headers of an email reply, from the conversation's messages (loaded for a whole
batch of sends in one query by the send relay, not one query per send)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from channels.base import OutboundMessage
from channels.email_compose import ticket_token
from hub.models import Message


async def conversations(
    session: AsyncSession, interaction_ids: Iterable[str]
) -> dict[str, list[Message]]:
    """Each interaction's messages, oldest first."""
    ids = sorted(set(interaction_ids))
    found: dict[str, list[Message]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = (
        await session.exec(
            select(Message)
            .where(col(Message.interaction_id).in_(ids))
            .order_by(col(Message.created_at))
        )
    ).all()
    for m in rows:
        found[m.interaction_id].append(m)
    return found


def email_threading(
    outbound: OutboundMessage,
    interaction_id: str,
    message_id: str,
    conversation: Sequence[Message],
    domain: str,
) -> OutboundMessage:
    """In-Reply-To the customer's last mail, References the whole chain, Message-ID ours."""
    rows = [m for m in conversation if m.id != message_id]
    refs = tuple(m.provider_ref for m in rows if m.provider_ref and "@" in m.provider_ref)
    last_in = next(
        (
            m.provider_ref
            for m in reversed(rows)
            if m.direction == "in" and m.provider_ref and "@" in m.provider_ref
        ),
        "",
    )
    meta = {**outbound.meta, "ticket": ticket_token(interaction_id)}
    answered = next((m for m in reversed(rows) if m.direction == "in" and m.body.strip()), None)
    if answered is not None and not outbound.meta.get("transcript"):
        author = answered.meta.get("sender_name") or answered.sender
        at = answered.created_at.strftime("%a, %d %b %Y at %H:%M UTC")
        meta["quote"] = {"author": str(author), "at": at, "body": answered.body}
    return replace(
        outbound,
        message_id=f"{message_id}@{domain}",
        in_reply_to=last_in or "",
        references=refs[-20:],
        meta=meta,
    )

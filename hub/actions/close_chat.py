"""The visitor ends the chat, optionally rating it (CSAT 1-5, stored for reports) and asking for
the transcript by email (sent through the email outbox to the address given before the chat)."""

from __future__ import annotations

from sqlmodel import col, select

from hub.context import Hub, Tx
from hub.events import InteractionUpdated, MessageCreated
from hub.models import Interaction, Message, OutboxEntry

TRANSCRIPT_SUBJECT = "Your chat transcript"


async def close_chat(
    hub: Hub, interaction_id: str, *, rating: int | None, transcript: bool = False
) -> str | None:
    """Returns the address the transcript goes to, if one was queued."""
    sent_to = None
    async with hub.transaction() as tx:
        it = await tx.session.get(Interaction, interaction_id)
        if it is None or it.channel != "chat":
            return None
        meta = {**it.meta, "visitor_closed_at": hub.now().isoformat()}
        if rating is not None:
            meta["csat"] = rating
        if it.state in ("queued", "offered"):
            # Nobody took it yet: it stays as work, but the visitor has left.
            meta["visitor_left"] = True
        address = str(it.meta.get("contact_email") or "")
        if (
            transcript
            and "@" in address
            and "email" in hub.channels
            and not it.meta.get("transcript_sent")
        ):
            await _queue_transcript(hub, tx, it, address)
            meta["transcript_sent"] = True
            sent_to = address
        it.meta = meta
        tx.session.add(it)
        tx.emit(
            InteractionUpdated(interaction_id=it.id, state=it.state, agent_id=it.assigned_agent_id)
        )
    if sent_to:
        hub.kick("sender")
    return sent_to


async def _queue_transcript(hub: Hub, tx: Tx, it: Interaction, address: str) -> None:
    rows = (
        await tx.session.exec(
            select(Message)
            .where(
                Message.interaction_id == it.id,
                col(Message.direction).in_(("in", "out")),
                Message.channel == "chat",
            )
            .order_by(col(Message.created_at))
        )
    ).all()
    lines = []
    for m in rows:
        who = "You" if m.direction == "in" else str(m.meta.get("author") or "Agent")
        lines.append(f"[{m.created_at.strftime('%Y-%m-%d %H:%M')} UTC] {who}: {m.body}")
    body = "Here is the transcript of your chat with us.\n\n" + "\n".join(lines)
    message = Message(
        interaction_id=it.id,
        channel="email",
        direction="out",
        subject=TRANSCRIPT_SUBJECT,
        body=body[: hub.settings.max_message_chars * 5],
        status="queued",
        created_at=hub.now(),
        meta={"to": address, "transcript": True, "author": "crmhub"},
    )
    tx.session.add(message)
    tx.session.add(
        OutboxEntry(
            kind="send",
            payload={"message_id": message.id, "interaction_id": message.interaction_id},
            next_attempt_at=hub.now(),
        )
    )
    tx.emit(MessageCreated(message_id=message.id, interaction_id=it.id, direction="out"))

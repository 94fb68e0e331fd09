"""Read state in web chat: the visitor saw the agent's messages, the agent saw the visitor's."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col, select

from hub.context import Hub
from hub.events import MessageStatusChanged
from hub.models import Message

MAX_MARKED = 200


async def mark_read(hub: Hub, interaction_id: str, direction: str) -> list[str]:
    """Marks the chat messages of one direction as read; returns the ids that changed.
    `out` = the visitor read the agent's replies (the agent's console shows "read");
    `in` = the agent read the visitor's messages (the widget shows "Seen")."""
    unread = ("queued", "sent", "delivered") if direction == "out" else ("received",)
    async with hub.transaction() as tx:
        ids = (
            await tx.session.exec(
                select(Message.id)
                .where(
                    Message.interaction_id == interaction_id,
                    Message.channel == "chat",
                    Message.direction == direction,
                    col(Message.status).in_(unread),
                )
                .limit(MAX_MARKED)
            )
        ).all()
        if not ids:
            return []
        await tx.session.exec(
            sa.update(Message).where(col(Message.id).in_(ids)).values(status="read")
        )
        if direction == "out":
            for message_id in ids:
                tx.emit(
                    MessageStatusChanged(
                        message_id=message_id, interaction_id=interaction_id, status="read"
                    )
                )
    return list(ids)
